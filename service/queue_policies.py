"""Enforcing queue policies: may another account's signer call this action?

Requests are authenticated (handlers/sigv4.py) only when credentials are
configured; then ``RequestContext.authenticated`` is set and the signer's
account is ``ctx.account_id``. A signer always reaches the queues of its own
account (its key stands for the account's root). To reach another account's
queue, the action must be one SQS lets an owner grant
(``permissions.GRANTABLE_ACTIONS``) and the queue's ``Policy`` must allow it,
by IAM's rules, reduced to what a queue policy can say:

* an explicit ``Deny`` that matches beats any ``Allow``; nothing matching
  means no access (SetQueueAttributes refuses an ``Effect`` other than
  ``Allow`` or ``Deny``; one found anyway counts as a ``Deny``);
* ``Principal``: ``"*"``, ``{"AWS": "*"}``, an account id, or the account's
  root ARN ``arn:aws:iam::ACCOUNT:root``, one or a list; a user or role ARN
  names an identity this service cannot tell apart, so it matches nobody;
* ``Action``: ``sqs:NAME`` patterns with ``*`` and ``?``, case-insensitive,
  or ``"*"``; ``Resource``: ARN patterns (a missing one means the queue);
  ``NotPrincipal``, ``NotAction`` and ``NotResource`` negate;
* a grant of SendMessage, DeleteMessage or ChangeMessageVisibility covers
  its batch form;
* ``Condition`` is not evaluated. Failing safe, an ``Allow`` with a condition
  grants nothing and a ``Deny`` with a condition always applies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any

from service.context import RequestContext
from service.errors import AccessDenied
from service.permissions import GRANTABLE_ACTIONS
from service.queue_names import QueueRef
from service.queue_registry import QueueRecord

#: A grant of an action covers its batch form, as in SQS.
_GRANTED_AS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def is_foreign(ctx: RequestContext, ref: QueueRef) -> bool:
    """The request is signed by an account that does not own ``ref``."""
    return ctx.authenticated and ref.account_id != ctx.account_id


def access_denied(ctx: RequestContext, ref: QueueRef) -> AccessDenied:
    """Also the answer for another account's queue that does not exist: a
    signer must not learn which names exist in accounts that are not its own."""
    return AccessDenied(f"Access to the resource {ref.url(ctx.base_url)} is denied.")


def check_access(ctx: RequestContext, record: QueueRecord) -> None:
    """Raise ``AccessDenied`` unless ``ctx``'s caller may run ``ctx.action``
    on ``record``'s queue."""
    if not is_foreign(ctx, record.ref):
        return
    arn = record.ref.arn(ctx.region)
    policy = record.attributes.get("Policy", "")
    action = _GRANTED_AS.get(ctx.action, ctx.action)
    if action in GRANTABLE_ACTIONS and allows(policy, ctx.account_id, action, arn):
        return
    raise access_denied(ctx, record.ref)


def allows(policy: str, account_id: str, action: str, resource: str) -> bool:
    """Whether ``policy`` (a JSON document) lets ``account_id`` call
    ``action`` (an SQS action name) on ``resource`` (a queue ARN)."""
    allowed = False
    for statement in _statements(policy):
        if not _matches(statement, account_id, f"sqs:{action}", resource):
            continue
        if statement.get("Effect") != "Allow":  # a Deny, or anything unclear
            return False
        if "Condition" not in statement:
            allowed = True
    return allowed


def _statements(policy: str) -> Iterator[dict[str, Any]]:
    try:
        doc = json.loads(policy) if policy else {}
    except ValueError:
        return
    statements = doc.get("Statement", []) if isinstance(doc, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    yield from (s for s in statements if isinstance(s, dict))


def _matches(statement: dict[str, Any], account_id: str, action: str, resource: str) -> bool:
    return (
        _field_matches(statement, "Principal", lambda p: _principal_matches(p, account_id))
        and _field_matches(statement, "Action", lambda a: _wildcard(a, action, ignore_case=True))
        and _field_matches(statement, "Resource", lambda r: _wildcard(r, resource), True)
    )


def _field_matches(
    statement: dict[str, Any],
    name: str,
    match: Callable[[object], bool],
    when_missing: bool = False,
) -> bool:
    """``name`` (or ``NotName``, negated) matches; a statement with neither
    matches only when the field may be left out."""
    if name in statement:
        return any(match(v) for v in _values(statement[name]))
    negated = f"Not{name}"
    if negated in statement:
        return not any(match(v) for v in _values(statement[negated]))
    return when_missing


def _values(field: object) -> Iterable[object]:
    if isinstance(field, dict):  # {"AWS": [...]}: other principal kinds never match
        field = field.get("AWS", [])
    return field if isinstance(field, list) else [field]


def _principal_matches(principal: object, account_id: str) -> bool:
    return principal in ("*", account_id, f"arn:aws:iam::{account_id}:root")


def _wildcard(pattern: object, value: str, *, ignore_case: bool = False) -> bool:
    """``value`` matches the IAM wildcard ``pattern`` (``*``, ``?``); action
    names compare case-insensitively, ARNs exactly."""
    if not isinstance(pattern, str):
        return False
    return _compiled(pattern, ignore_case).fullmatch(value) is not None


@lru_cache(maxsize=1024)
def _compiled(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), (re.IGNORECASE if ignore_case else 0) | re.DOTALL)
