"""Bounding what uvicorn holds of a request before the app sees it.

uvicorn's httptools protocol (what `bucketq serve` runs on CPython) keeps a
request's URL and headers without limit: 200 MB of header lines were held in
memory by one connection. ``BoundedHttpToolsProtocol`` counts the bytes of a
head as they arrive and answers 400 (closing the connection) past
``MAX_HEAD_BYTES``;
h11, the fallback, has its own bound, set to the same number. The body is
bounded by the app (``handlers/asgi_app.py``).
"""

from __future__ import annotations

from typing import Any, Final

#: URL plus headers of one request. SDK requests carry a few kB; a presigned
#: GET carries its parameters in the URL, so this leaves room for a large
#: message there too.
MAX_HEAD_BYTES: Final = 1024 * 1024


def http_protocol() -> Any:
    """The uvicorn ``http`` setting: the bounded httptools protocol, or h11."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # no httptools (PyPy, Windows...): h11 bounds heads itself
        return "h11"

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """Counts the bytes that arrive while a head is being read: httptools
        buffers a header value whole before any callback sees it, so the
        count must come before the parser."""

        _reading_head = True
        _head_bytes = 0

        def data_received(self, data: bytes) -> None:
            if self._reading_head:
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES:
                    self.send_400_response("Request head too large.")
                    return
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._reading_head, self._head_bytes = False, 0
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._reading_head = True

    return BoundedHttpToolsProtocol
