"""The Query protocol's forms: an urlencoded body or query string split into
decoded (name, value) pairs, refused before decoding when too large.

``handlers.query_decoding`` turns the pairs into an action's params; the
decisions both follow are listed in ``handlers.query_protocol``.
"""

from __future__ import annotations

import codecs
from typing import Final
from urllib.parse import unquote_to_bytes

from service.errors import InvalidParameterValue, MalformedQueryString

#: Bound on the pairs of one form. A full SendMessageBatch with ten message
#: attributes per entry needs about 500.
MAX_QUERY_PARAMETERS: Final = 4096
#: Bound on the bytes of one form: the gateway's body limit, which the query string
#: (bounded by no body limit) must not escape.
MAX_FORM_BYTES: Final = 4 * 1024 * 1024
#: Bound on the characters of a request's value echoed in an error message.
MAX_ECHOED_VALUE: Final = 128

# ---------------------------------------------------------------------------
# form decoding


def _percent_decode(raw: bytes) -> bytes:
    raw = raw.replace(b"+", b" ")
    if b"%" not in raw:
        return raw
    # Fast path in C: every %XX becomes a \xXX escape (original backslashes doubled
    # first). urllib's decoder runs in Python, 20 times slower on non-ASCII text.
    try:
        return codecs.escape_decode(raw.replace(b"\\", b"\\\\").replace(b"%", b"\\x"))[0]
    except ValueError:  # a malformed escape: urllib keeps it literally
        return unquote_to_bytes(raw)


def _raw_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no bytes were decoded into
        return text.encode("utf-8", "surrogatepass")


def _form_too_long(max_bytes: int) -> InvalidParameterValue:
    return InvalidParameterValue(f"The request parameters are longer than {max_bytes} bytes.")


def _form_text(raw: bytes, name: bytes) -> str:
    if b"%" in raw or b"+" in raw:
        raw = _percent_decode(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        shown = name.decode("utf-8", "replace")[:MAX_ECHOED_VALUE]
        raise MalformedQueryString(f"The value of parameter {shown} is not valid UTF-8.") from None


def parse_form(
    data: bytes | str, *, limit: int = MAX_QUERY_PARAMETERS, max_bytes: int = MAX_FORM_BYTES
) -> list[tuple[str, str]]:
    """Split an urlencoded form or query string into decoded (name, value) pairs.

    A ``str`` is taken as the raw text (non-ASCII encoded as UTF-8, with lone
    surrogates mapped back to the bytes a ``surrogateescape`` decoding made them
    from; any other surrogate stays as invalid UTF-8 for the decoder to refuse).
    More than ``limit`` pairs or ``max_bytes`` bytes are refused before decoding.
    """
    if len(data) > max_bytes:  # a str has no more characters than bytes
        raise _form_too_long(max_bytes)
    if isinstance(data, str):
        data = _raw_bytes(data)
        if len(data) > max_bytes:
            raise _form_too_long(max_bytes)
    if not data:
        return []
    if data.count(b"&") >= limit:
        # The edge gives a body the room its query string left: name the request's bound.
        bound = max(limit, MAX_QUERY_PARAMETERS)
        raise InvalidParameterValue(f"The request has more than {bound} parameters.")
    pairs: list[tuple[str, str]] = []
    for part in data.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        pairs.append((_form_text(name, name), _form_text(value, name)))
    return pairs
