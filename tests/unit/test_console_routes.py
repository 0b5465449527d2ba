"""handlers.console_routes: the console's fixed set of static files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handlers.console_routes import CONSOLE_FILES, CONSOLE_PREFIX, console_response

CONSOLE_DIR = Path(__file__).parents[2] / "handlers" / "console"


@pytest.mark.parametrize("path", ["/console", "/console/", "/console/index.html"])
def test_index(path: str) -> None:
    response = console_response(path)
    assert response is not None and response.status == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.body == (CONSOLE_DIR / "index.html").read_bytes()


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("sigv4.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_have_their_content_type(name: str, content_type: str) -> None:
    response = console_response(f"{CONSOLE_PREFIX}/{name}")
    assert response is not None and response.status == 200
    assert response.headers["content-type"] == content_type


def test_every_answer_carries_the_security_headers() -> None:
    for path in ("/console", "/console/app.js", "/console/nothing"):
        response = console_response(path)
        assert response is not None
        headers = response.headers
        assert headers["cache-control"] == "no-store"
        assert headers["x-content-type-options"] == "nosniff"
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe" not in policy


@pytest.mark.parametrize(
    "path",
    [
        "/console/nothing.js",
        "/console/../handlers/cli.py",
        "/console/console/app.js",
        "/console/./app.js",
        "/console//app.js",
        "/console/APP.JS",
        "/console/app.js/",
        "/console/__init__.py",
        "/console/app.js%00",
    ],
)
def test_anything_else_under_the_prefix_is_404(path: str) -> None:
    response = console_response(path)
    assert response is not None and response.status == 404


@pytest.mark.parametrize("path", ["/", "/health", "/consoles", "/000000000000/console"])
def test_other_paths_are_not_the_consoles(path: str) -> None:
    assert console_response(path) is None


def test_the_served_set_is_the_directory() -> None:
    assert {path.name for path in CONSOLE_DIR.iterdir()} == CONSOLE_FILES


def test_pages_load_only_files_of_the_set() -> None:
    """index.html's links and every module's imports name served files, and no
    page has inline script or style (the policy would refuse them)."""
    index = (CONSOLE_DIR / "index.html").read_text()
    linked = set(re.findall(r'(?:href|src)="/console/([^"]+)"', index))
    imported = {
        name
        for path in CONSOLE_DIR.glob("*.js")
        for name in re.findall(r'from "\./([^"]+)"', path.read_text())
    }
    assert linked | imported <= CONSOLE_FILES
    assert {"app.js", "console.css"} <= linked
    assert "<script>" not in index and "style=" not in index and "<style" not in index
