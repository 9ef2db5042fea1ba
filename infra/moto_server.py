"""Serves moto's AWS emulator on 127.0.0.1, one request at a time.

moto's own `moto_server` answers on threads, and its conditional writes then race (a conditional
decrement can oversell). This launcher serves the same WSGI application single-threaded, so every
request, and every DynamoDB condition with it, is atomic as it is in DynamoDB.

Prints `READY <port>` on stdout once it listens. With --watch-parent it exits when the process
that started it goes away, so a test run never leaves an emulator behind.
"""

import argparse
import os
import threading
import time

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

# Hundreds of clients connect at once in the contention tests; keep them all in the backlog.
BaseWSGIServer.request_queue_size = 1024


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--watch-parent", action="store_true")
    args = parser.parse_args()

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        "127.0.0.1", args.port, app, threaded=False, request_handler=QuietHandler
    )
    if args.watch_parent:
        threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    print(f"READY {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
