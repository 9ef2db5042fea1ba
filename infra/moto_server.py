"""Serves moto's AWS emulator (SNS, SES and S3 for this project; DynamoDB runs on AWS's own
DynamoDB Local) on 127.0.0.1, threaded as moto's own server is.

Prints `READY <port>` on stdout once it listens. With --watch-parent it exits when the process
that started it goes away, so a test run never leaves an emulator behind.
"""

import argparse
import os
import threading
import time

from moto.moto_api._internal.responses import MotoAPIResponse
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

# Many clients connect at once in the tests; keep them all in the backlog.
BaseWSGIServer.request_queue_size = 1024


def _model_data(self, request, full_url, headers):
    """`GET /moto-api/data.json`, as moto serves it, except that an attribute whose getter raises
    is left out instead of failing the whole page (moto's own version fails with a 500 once S3
    holds a multipart object, and the tests read what SNS and SES sent from this page)."""
    import json

    from moto.core.model_instances import model_data

    results = {}
    for service in sorted(model_data):
        results[service] = {}
        for name in sorted(model_data[service]):
            rows = results[service][name] = []
            for instance in model_data[service][name].instances_tracked:
                row = {}
                for attr in dir(instance):
                    if attr.startswith("_"):
                        continue
                    try:
                        value = getattr(instance, attr)
                        json.dumps(value)
                    except Exception:  # noqa: BLE001 - any failing getter is skipped
                        continue
                    row[attr] = value
                rows.append(row)
    return 200, {"Content-Type": "application/javascript"}, json.dumps(results)


MotoAPIResponse.model_data = _model_data


def refuse_dynamodb(app):
    """DynamoDB (and its streams) run on DynamoDB Local: a DynamoDB call that reaches moto is a
    wiring mistake, answered with an error that says so rather than served by moto's mock."""

    def wrapped(environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB"):
            body = (
                '{"__type":"com.amazonaws.dynamodb.v20120810#UnrecognizedClientException",'
                '"message":"DynamoDB is served by DynamoDB Local, not moto: this client has the '
                'wrong endpoint"}'
            ).encode()
            start_response(
                "400 Bad Request",
                [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return app(environ, start_response)

    return wrapped


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

    app = refuse_dynamodb(DomainDispatcherApplication(create_backend_app))
    server = make_server(
        "127.0.0.1", args.port, app, threaded=True, request_handler=QuietHandler
    )
    if args.watch_parent:
        threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    print(f"READY {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
