"""Serves moto's AWS emulator on 127.0.0.1, one request at a time.

moto's own `moto_server` answers on threads, and its conditional writes then race (a conditional
decrement can oversell). This launcher serves the same WSGI application single-threaded, so every
request, and every DynamoDB condition with it, is atomic as it is in DynamoDB.

Prints `READY <port>` on stdout once it listens. With --watch-parent it exits when the process
that started it goes away, so a test run never leaves an emulator behind.
"""

import argparse
import copy
import os
import threading
import time

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_api._internal.responses import MotoAPIResponse
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

# Hundreds of clients connect at once in the contention tests; keep them all in the backlog.
BaseWSGIServer.request_queue_size = 1024


class _TableSnapshotFreeCopy:
    """moto rolls a failed TransactWriteItems back by deep-copying every table it touches before
    it starts: O(table size + stream length) per transaction (130 ms at 600 items here), which
    would make the emulator, not the code under test, dominate every test and benchmark. This
    stands in for the `copy` module inside moto's DynamoDB backend: tables are not copied, and
    `transact_write_items` below restores just the items the transaction touched instead."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _item_key(table, op):
    attrs = op["Item"] if "Item" in op else op["Key"]
    hash_key = DynamoType(attrs[table.hash_key_attr])
    range_key = (
        DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    )
    return hash_key, range_key


_original_transact_write_items = DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    """All or nothing, as in moto, with a rollback proportional to the items touched."""
    snapshots = {}
    streams = {}
    for entry in transact_items[:100]:
        for op in entry.values():
            table = self.tables.get(op.get("TableName", ""))
            if table is None:
                continue
            try:
                key = _item_key(table, op)
            except (KeyError, TypeError):
                continue
            ident = (table.name, str(key[0]), str(key[1]))
            if ident not in snapshots:
                current = table.get_item(*key) if key[1] is not None else table.get_item(key[0])
                snapshots[ident] = (table, key, copy.deepcopy(current))
            if table.stream_shard is not None and table.name not in streams:
                streams[table.name] = (table.stream_shard, len(table.stream_shard.items))
    try:
        return _original_transact_write_items(self, transact_items)
    except Exception:
        for table, (hash_key, range_key), item in snapshots.values():
            if range_key is None:
                if item is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = item
            elif item is None:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items[hash_key][range_key] = item
        for shard, length in streams.values():
            del shard.items[length:]
        raise


dynamodb_models.copy = _TableSnapshotFreeCopy()
DynamoDBBackend.transact_write_items = transact_write_items


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
