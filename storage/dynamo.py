"""``DynamoTable``: the ``Table`` port on one DynamoDB table.

The table has key ``(pk S, sk S)`` and a sparse GSI ``due-index`` on
``(pk, due N)`` (see ``storage.aws_resources``). ``ver`` is an ordinary
number attribute that every write sets to its expected value plus one.

An unconditional put still has to store ``current ver + 1``, which one
PutItem cannot compute. It guesses "absent", and when the guess is wrong the
failed condition returns the current item (``ReturnValuesOnConditionCheck
Failure=ALL_OLD``), so the next attempt expects that ``ver``: one request for
a new item, two for an existing one, more only under contention. The same
applies to unconditional ``Put`` ops in a transaction. Requests are counted
as sent, since they are what the bill counts.

A create (``expect=ABSENT``) is never re-sent by botocore after an attempt
that may have been applied (``aws_errors.no_resend_if_maybe_applied``): it
raises ``StorageUnavailable`` instead, since a re-sent create would bring
back an item deleted in the meantime. Transactions rely on their idempotency
token instead: botocore sends the same ``ClientRequestToken`` on every
attempt, and DynamoDB answers a re-sent transaction with its first outcome
(for ten minutes). moto ignores the token, which is why a condition failure
after a maybe-applied attempt is never taken for a lost race (``aws_errors``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiobotocore.session import AioSession
from botocore.exceptions import ClientError

from storage.aws_clients import DEFAULT_REGION, Closer, open_client
from storage.aws_errors import (
    cancellation_codes,
    error_code,
    no_resend_if_maybe_applied,
    translated,
)
from storage.aws_resources import DUE_INDEX
from storage.dynamo_codec import condition, decode_item, encode_item, item_ver, key
from storage.ports import (
    ABSENT,
    DUE_ATTR,
    TABLE_ADD,
    TABLE_DELETE,
    TABLE_GET,
    TABLE_PUT,
    TABLE_QUERY,
    TABLE_TRANSACT,
    VERSION_ATTR,
    Check,
    Delete,
    Expect,
    Item,
    Put,
    RequestCounter,
    StorageUnavailable,
    TransactOp,
)
from storage.validation import check_add, check_transact

#: Attempts of an unconditional write before giving up on a hot item.
MAX_GUESSES = 8
_ALL_OLD = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}


class DynamoTable:
    def __init__(
        self,
        client: Any,
        table_name: str,
        counter: RequestCounter | None = None,
        *,
        closer: Closer | None = None,
    ) -> None:
        """Wrap an open aiobotocore DynamoDB client; ``closer``, if given, closes it."""
        self.counter = counter or RequestCounter()
        self.table_name = table_name
        self._client = client
        self._closer = closer

    @classmethod
    async def open(
        cls,
        table_name: str,
        counter: RequestCounter | None = None,
        *,
        session: AioSession | None = None,
        endpoint_url: str | None = None,
        region: str = DEFAULT_REGION,
    ) -> DynamoTable:
        """A table with its own client, closed by ``close``."""
        client, closer = await open_client(
            "dynamodb", session=session, endpoint_url=endpoint_url, region=region
        )
        return cls(client, table_name, counter, closer=closer)

    async def _send(self, kind: str, operation: str, **args: Any) -> dict[str, Any]:
        """One request on this table, counted (transactions name it per item)."""
        self.counter.count(kind)
        if kind != TABLE_TRANSACT:
            args["TableName"] = self.table_name
        response: dict[str, Any] = await getattr(self._client, operation)(**args)
        return response

    # -- single items ----------------------------------------------------------

    async def get(self, pk: str, sk: str) -> Item | None:
        with translated():
            response = await self._send(TABLE_GET, "get_item", Key=key(pk, sk), ConsistentRead=True)
        raw = response.get("Item")
        return None if raw is None else decode_item(raw)

    async def put(self, item: Item, *, expect: Expect = None) -> int:
        with translated():
            if expect is None:
                return await self._put_unconditional(item)
            if expect == ABSENT:
                # A create re-sent after its first attempt was applied would
                # create the item again if it was deleted in between.
                with no_resend_if_maybe_applied():
                    await self._send(
                        TABLE_PUT, "put_item", Item=encode_item(item, 1), **condition(ABSENT)
                    )
                return 1
            await self._send(
                TABLE_PUT, "put_item", Item=encode_item(item, expect + 1), **condition(expect)
            )
        return expect + 1

    async def _put_unconditional(self, item: Item) -> int:
        guess = ABSENT
        for _ in range(MAX_GUESSES):
            try:
                await self._send(
                    TABLE_PUT,
                    "put_item",
                    Item=encode_item(item, guess + 1),
                    **condition(guess),
                    **_ALL_OLD,
                )
                return guess + 1
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                guess = item_ver(exc.response.get("Item"))
        raise StorageUnavailable(f"unconditional put of {item['pk']!r}/{item['sk']!r} kept racing")

    async def delete(self, pk: str, sk: str, *, expect: Expect = None) -> None:
        with translated():
            await self._send(TABLE_DELETE, "delete_item", Key=key(pk, sk), **condition(expect))

    async def add(
        self, pk: str, sk: str, deltas: Mapping[str, int], remove: Sequence[str] = ()
    ) -> None:
        check_add(deltas, remove)
        names = {"#ver": VERSION_ATTR}
        values: dict[str, Any] = {":one": {"N": "1"}}
        # Creating the item sets ver = 1; an existing item keeps its ver.
        expression = "SET #ver = if_not_exists(#ver, :one)"
        adds = []
        for i, (name, delta) in enumerate(deltas.items()):
            names[f"#a{i}"], values[f":a{i}"] = name, {"N": str(delta)}
            adds.append(f"#a{i} :a{i}")
        if adds:
            expression += " ADD " + ", ".join(adds)
        for i, name in enumerate(remove):
            names[f"#r{i}"] = name
        if remove:
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        with translated():
            await self._send(
                TABLE_ADD,
                "update_item",
                Key=key(pk, sk),
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    # -- queries ---------------------------------------------------------------

    async def query(
        self, pk: str, *, prefix: str = "", start_after: str = "", limit: int = 100
    ) -> list[Item]:
        names = {"#pk": "pk", "#sk": "sk"}
        values: dict[str, Any] = {":pk": {"S": pk}}
        stop_unless = None
        # A key condition takes one sort-key test: begins_with when the
        # prefix range starts after start_after, else sk > start_after with
        # the scan cut where keys stop matching the prefix.
        if start_after >= prefix and start_after:
            expression = "#pk = :pk AND #sk > :after"
            values[":after"] = {"S": start_after}
            stop_unless = prefix
        elif prefix:
            expression = "#pk = :pk AND begins_with(#sk, :prefix)"
            values[":prefix"] = {"S": prefix}
        else:
            expression, names = "#pk = :pk", {"#pk": "pk"}
        return await self._query(
            limit,
            stop_unless,
            KeyConditionExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
        )

    async def query_due(self, pk: str, *, due_max: int, limit: int) -> list[Item]:
        return await self._query(
            limit,
            None,
            IndexName=DUE_INDEX,
            KeyConditionExpression="#pk = :pk AND #due <= :due",
            ExpressionAttributeNames={"#pk": "pk", "#due": DUE_ATTR},
            ExpressionAttributeValues={":pk": {"S": pk}, ":due": {"N": str(due_max)}},
        )

    async def _query(self, limit: int, stop_unless: str | None, **args: Any) -> list[Item]:
        """Up to ``limit`` items, following pages (DynamoDB stops at 1 MB);
        with ``stop_unless``, stop at the first sort key without that prefix."""
        items: list[Item] = []
        while len(items) < limit:
            with translated():
                page = await self._send(TABLE_QUERY, "query", Limit=limit - len(items), **args)
            for raw in page.get("Items", []):
                item = decode_item(raw)
                if stop_unless is not None and not str(item["sk"]).startswith(stop_unless):
                    return items
                items.append(item)
            if not page.get("LastEvaluatedKey"):
                break
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items

    # -- transactions ------------------------------------------------------------

    async def transact(self, ops: Sequence[TransactOp]) -> None:
        check_transact(ops)
        # Versions guessed for unconditional puts, corrected from failures.
        guesses = {
            i: ABSENT for i, op in enumerate(ops) if isinstance(op, Put) and op.expect is None
        }
        with translated():
            for _ in range(MAX_GUESSES):
                items = [self._transact_item(op, guesses.get(i)) for i, op in enumerate(ops)]
                try:
                    await self._send(TABLE_TRANSACT, "transact_write_items", TransactItems=items)
                    return
                except ClientError as exc:
                    if not _only_guesses_failed(exc, guesses):
                        raise
                    reasons = exc.response["CancellationReasons"]
                    for i in guesses:
                        if reasons[i].get("Code") == "ConditionalCheckFailed":
                            guesses[i] = item_ver(reasons[i].get("Item"))
        raise StorageUnavailable("transaction with unconditional puts kept racing")

    def _transact_item(self, op: TransactOp, guess: int | None) -> dict[str, Any]:
        base: dict[str, Any] = {"TableName": self.table_name}
        if isinstance(op, Put):
            expect = op.expect if guess is None else guess
            assert expect is not None
            extra = _ALL_OLD if guess is not None else {}
            item = encode_item(op.item, expect + 1)
            return {"Put": {**base, "Item": item, **condition(expect), **extra}}
        if isinstance(op, Delete):
            return {"Delete": {**base, "Key": key(op.pk, op.sk), **condition(op.expect)}}
        assert isinstance(op, Check)
        return {"ConditionCheck": {**base, "Key": key(op.pk, op.sk), **condition(op.expect)}}

    async def close(self) -> None:
        closer, self._closer = self._closer, None
        if closer is not None:
            await closer()


def _only_guesses_failed(exc: ClientError, guesses: Mapping[int, int]) -> bool:
    """Whether the transaction was cancelled only by wrong version guesses."""
    if error_code(exc) != "TransactionCanceledException":
        return False
    failed = {i: code for i, code in enumerate(cancellation_codes(exc)) if code != "None"}
    return (
        bool(failed)
        and failed.keys() <= guesses.keys()
        and set(failed.values()) == {"ConditionalCheckFailed"}
    )
