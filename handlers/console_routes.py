"""The web console's static files, served by `bucketq serve` under ``/console``.

The console is an SQS client that runs in the browser: plain HTML, CSS and
JavaScript modules in the package directory ``handlers/console/``, no build
step. The browser signs its API calls itself (SigV4 over Web Crypto, with a key
the operator types in), so these files carry no data and are served unsigned.

Only a fixed set of file names is served: a path is looked up in that set,
never joined to a directory, so nothing else can be reached through it.
Every answer forbids caching, sniffing and framing, and its content security
policy allows scripts, styles and connections from this origin only (no
inline script, no inline style).
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from handlers.http_edge import HttpResponse

CONSOLE_PREFIX: Final = "/console"

_INDEX = "index.html"
_CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: Every file the console is made of; nothing else under /console exists.
CONSOLE_FILES: Final = frozenset(
    {
        _INDEX,
        "console.css",
        "favicon.svg",
        "api.js",
        "app.js",
        "dom.js",
        "peek_panel.js",
        "purge_panel.js",
        "queue_view.js",
        "queues_view.js",
        "redrive_panel.js",
        "send_panel.js",
        "sigv4.js",
    }
)
_CSP: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
_SECURITY_HEADERS: Final = {
    "cache-control": "no-store",
    "content-security-policy": _CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


def _file_name(path: str) -> str | None:
    """The console file ``path`` names, ``""`` for an unknown one under the
    prefix, ``None`` for a path outside it."""
    if path in (CONSOLE_PREFIX, CONSOLE_PREFIX + "/"):
        return _INDEX
    if not path.startswith(CONSOLE_PREFIX + "/"):
        return None
    name = path[len(CONSOLE_PREFIX) + 1 :]
    return name if name in CONSOLE_FILES else ""


def _response(status: int, content_type: str, body: bytes) -> HttpResponse:
    return HttpResponse(status, {"content-type": content_type, **_SECURITY_HEADERS}, body)


def console_response(path: str) -> HttpResponse | None:
    """The answer to ``GET path``: a console file, a 404 for any other path
    under ``/console/``, or ``None`` when ``path`` is not the console's."""
    name = _file_name(path)
    if name is None:
        return None
    if not name:
        return _response(404, "text/plain; charset=utf-8", b"not found\n")
    body = resources.files("handlers").joinpath("console", name).read_bytes()
    suffix = name[name.rindex(".") :]
    return _response(200, _CONTENT_TYPES[suffix], body)
