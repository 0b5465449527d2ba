"""Who is calling and where: the per-request facts the service needs."""

from __future__ import annotations

from dataclasses import dataclass

from service.constants import DEFAULT_ACCOUNT_ID, DEFAULT_REGION


@dataclass(frozen=True)
class RequestContext:
    """``base_url`` is the scheme and authority clients addressed
    (``http://127.0.0.1:9324``, or an API Gateway URL with its stage);
    queue URLs in responses are built on it so they route back here."""

    account_id: str = DEFAULT_ACCOUNT_ID
    region: str = DEFAULT_REGION
    base_url: str = "http://127.0.0.1:9324"
    sender_id: str = DEFAULT_ACCOUNT_ID
    trace_header: str | None = None
    #: The API action being served (queue policies name it).
    action: str = ""
    #: The request was signed with a key of ``account_id`` (credentials are
    #: configured): other accounts' queues answer only as their policies allow.
    authenticated: bool = False
