"""Storage requests per message and what they cost at AWS list prices.

Prices (us-east-1, pay per request): S3 PUT/COPY/POST/LIST $0.005 and GET
$0.0004 per 1,000 requests (DELETE is free); DynamoDB on demand $0.625 per
million write request units and $0.125 per million read request units; SQS
$0.40 per million requests (each 64 KB chunk of a request is one request: a
256-byte message is one chunk).

bucketq's table requests are priced at one request unit each: its items are
under 1 KB (one write unit) and under 4 KB (one read unit for a strongly
consistent read, half of one for the eventually consistent index query, which
this rounds up). A transaction costs twice its items' units; it is priced here
as 2 units per request, which undercounts transactions of several items
(none are made on the standard-queue paths measured here).

With the table on S3 (``bucketq serve --table-on-s3``) the table's requests
are S3 requests (``storage.s3_table``): its reads are GETs, priced as S3
GETs, and its writes PUTs, priced as S3 PUTs (the few DELETEs among them,
which S3 does not charge, are priced as PUTs too: an upper bound).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from storage.ports import (
    OBJECT_GET,
    OBJECT_LIST,
    OBJECT_PUT,
    TABLE_READ_KINDS,
    TABLE_TRANSACT,
    TABLE_WRITE_KINDS,
)

S3_PUT_PER_REQUEST = 0.005 / 1000
S3_GET_PER_REQUEST = 0.0004 / 1000
DDB_WRITE_PER_UNIT = 0.625 / 1_000_000
DDB_READ_PER_UNIT = 0.125 / 1_000_000
SQS_PER_REQUEST = 0.40 / 1_000_000
MILLION = 1_000_000


@dataclass(frozen=True)
class PerMessage:
    """bucketq's storage requests per message, by the kinds that are billed."""

    object_put: float
    object_get: float
    object_list: float
    table_write: float
    table_read: float
    transact: float
    #: The table's requests are S3 requests (the table on S3).
    table_on_s3: bool = False

    @classmethod
    def of(
        cls, counts: Mapping[str, int], messages: int, *, table_on_s3: bool = False
    ) -> PerMessage:
        def per(kinds: frozenset[str] | set[str]) -> float:
            return sum(counts.get(k, 0) for k in kinds) / messages

        return cls(
            object_put=per({OBJECT_PUT}),
            object_get=per({OBJECT_GET}),
            object_list=per({OBJECT_LIST}),
            table_write=per(TABLE_WRITE_KINDS),
            table_read=per(TABLE_READ_KINDS),
            transact=per({TABLE_TRANSACT}),
            table_on_s3=table_on_s3,
        )

    def dollars_per_million(self) -> float:
        if self.table_on_s3:
            s3_only = (
                self.object_put + self.object_list + self.table_write
            ) * S3_PUT_PER_REQUEST + (self.object_get + self.table_read) * S3_GET_PER_REQUEST
            return s3_only * MILLION
        per_message = (
            (self.object_put + self.object_list) * S3_PUT_PER_REQUEST
            + self.object_get * S3_GET_PER_REQUEST
            + (self.table_write + self.transact) * DDB_WRITE_PER_UNIT
            + self.table_read * DDB_READ_PER_UNIT
        )
        return per_message * MILLION


def sqs_dollars_per_million(api_calls_per_message: float) -> float:
    """What SQS bills for a million messages moved with these API calls each."""
    return api_calls_per_message * SQS_PER_REQUEST * MILLION


def sqs_ideal_calls_per_message(batch: int) -> float:
    """Send, receive and delete, each carrying ``batch`` messages."""
    return 3 / batch
