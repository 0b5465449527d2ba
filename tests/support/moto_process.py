"""A moto server (S3 + DynamoDB over HTTP) in its own process, answering one
request at a time.

Several `bucketq serve` processes share it in the scale-out tests. Moto's
threaded server checks a condition and then writes without a lock, so two
requests racing for one item could both pass a condition that real DynamoDB
and S3 evaluate atomically; serving requests one at a time restores that
atomicity (moto's handlers hold the GIL anyway, so little is lost). It is
also needed for moto's own transactions: a failed TransactWriteItems puts
back a snapshot of the whole table taken when it began, which would undo
the writes of any request served meanwhile. Its own process keeps it off the
test process's GIL, where the clients run.

That snapshot is a deep copy of the table for every item of the
transaction, so with a few thousand items (FIFO deduplication items stay
five minutes) each FIFO commit took seconds. ``cheap_transaction_snapshots``
replaces it, for transactions of Put, Delete and ConditionCheck (the only
operations bucketq's transactions use), with a copy of the table's item
index: these operations replace or remove items and never change one in
place, so putting the old index back undoes them exactly. And every query of
an index sorts all the table's items, comparing attribute values through a
conversion on every comparison; ``cached_item_order`` sorts them once per
change of the table, by the same values converted once per item. And
``cached_module_list`` stops moto from listing its own package directory
for every request it routes.

Run as ``python -m tests.support.moto_process PORT``; ``moto_process`` starts
it for a test and stops it afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.support.bucketq_server import free_port

STARTUP_SECONDS = 30
ROOT = Path(__file__).resolve().parents[2]  # where ``tests`` is a package


def serialized(app: Callable[..., Iterable[bytes]]) -> Callable[..., list[bytes]]:
    """A WSGI app that runs ``app`` (its whole response included) under one lock."""
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with lock:
            return list(app(environ, start_response))

    return serve


def cheap_transaction_snapshots() -> None:
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    deep_copy = dynamodb_models.copy
    no_copy = SimpleNamespace(deepcopy=lambda value: value)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if any(set(item) - {"Put", "Delete", "ConditionCheck"} for item in transact_items):
            return original(self, transact_items)
        names = {op.get("TableName") for item in transact_items for op in item.values()}
        saved = {
            name: defaultdict(
                dict,
                {h: dict(r) if isinstance(r, dict) else r for h, r in table.items.items()},
            )
            for name, table in self.tables.items()
            if name in names
        }
        dynamodb_models.copy = no_copy  # one request at a time: nobody else sees it
        try:
            original(self, transact_items)
        except Exception:
            for name, items in saved.items():
                self.tables[name].items = items
            raise
        finally:
            dynamodb_models.copy = deep_copy
        return None

    DynamoDBBackend.transact_write_items = transact_write_items


def cached_item_order() -> None:
    """Sort a table's items once per change, by values converted once per item."""
    from moto.dynamodb.models.table import Table

    def sort_key(item: Any) -> Any:
        if item.range_key:
            return (item.hash_key.cast_value, item.range_key.cast_value)
        return item.hash_key.cast_value

    def all_items(self: Any) -> list[Any]:
        cached = self.__dict__.get("_sorted_items")
        if cached is None or cached[0] is not self.items:  # changed, or replaced
            items: list[Any] = []
            for hash_set in self.items.values():
                if self.range_key_attr:
                    items.extend(hash_set.values())
                else:
                    items.append(hash_set)
            cached = self._sorted_items = (self.items, sorted(items, key=sort_key))
        return list(cached[1])

    def forgetting_order(write: Callable[..., Any]) -> Callable[..., Any]:
        def changed(self: Any, *args: Any, **kwargs: Any) -> Any:
            self.__dict__.pop("_sorted_items", None)
            return write(self, *args, **kwargs)

        return changed

    Table.all_items = all_items
    Table.put_item = forgetting_order(Table.put_item)
    Table.delete_item = forgetting_order(Table.delete_item)


def cached_module_list() -> None:
    """Moto lists its own package directory to route every request."""
    import moto.backends

    modules = list(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules


def main(port: int) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    cheap_transaction_snapshots()
    cached_item_order()
    cached_module_list()
    app = serialized(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"moto listening on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


@contextmanager
def moto_process(log_path: Path) -> Iterator[str]:
    """Start a moto server process; yield its endpoint URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.moto_process", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto did not start: {log_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main(int(sys.argv[1]))
