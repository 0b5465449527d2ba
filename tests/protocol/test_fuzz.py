"""Decoders fail only with SqsError, whatever the input."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.json_protocol import decode_json
from handlers.query_names import query_service_model
from handlers.query_protocol import decode_query, parse_form
from handlers.sqs_model import OPERATION_NAMES
from service.errors import SqsError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _query_words() -> list[str]:
    """Every Query name of the model, so fuzzed keys reach deep into the plans."""
    model = query_service_model()
    words = {"Action", "Version", "member", "entry", "1", "2", "10", "0", "01", "-1", "x", ""}
    for name in model.shape_names:
        shape = model.shape_for(name)
        words.add(name)
        for member_name, member in getattr(shape, "members", {}).items():
            words.add(member_name)
            words.add(member.serialization.get("name", member_name))
        for part in ("member", "key", "value"):
            sub = getattr(shape, part, None)
            if sub is not None and "name" in sub.serialization:
                words.add(sub.serialization["name"])
    return sorted(words)


WORDS = st.sampled_from(_query_words())
KEYS = st.one_of(st.lists(WORDS, min_size=1, max_size=6).map(".".join), st.text(max_size=20))
VALUES = st.one_of(
    st.sampled_from(["", "1", "-5", "true", "abc", "AAE=", "%%", "99999999999999999999"]),
    st.text(max_size=20),
)
ACTIONS = st.sampled_from([*sorted(OPERATION_NAMES), "", "Nope"])


def _check(call: Any, *args: Any) -> None:
    with contextlib.suppress(SqsError):
        call(*args)


@FUZZ
@given(ACTIONS, st.lists(st.tuples(KEYS, VALUES), max_size=30))
def test_decode_query_raises_only_sqs_errors(action: str, pairs: list[tuple[str, str]]) -> None:
    _check(decode_query, [("Action", action), *pairs])


@FUZZ
@given(st.lists(st.tuples(st.text(), st.text()), max_size=10))
def test_decode_query_of_arbitrary_text(pairs: list[tuple[str, str]]) -> None:
    _check(decode_query, pairs)


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_parse_form_raises_only_sqs_errors(raw: bytes | str) -> None:
    _check(parse_form, raw)


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True),
        st.text(max_size=10),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(WORDS, st.text(max_size=8)), children, max_size=6),
    ),
    max_leaves=30,
)


@settings(FUZZ, max_examples=120)
@given(ACTIONS, st.dictionaries(WORDS, JSON_VALUES, max_size=8))
def test_decode_json_of_any_document(action: str, document: dict[str, Any]) -> None:
    _check(decode_json, f"AmazonSQS.{action}", json.dumps(document).encode())


@FUZZ
@given(st.one_of(st.none(), st.text(max_size=30)), st.binary(max_size=200))
def test_decode_json_of_any_bytes(target: str | None, raw: bytes) -> None:
    _check(decode_json, target, raw)
