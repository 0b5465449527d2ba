"""`bucketq serve`'s settings: credentials by flag or environment, the warning
for an open non-loopback listener, and a bad credentials file stopping start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from handlers.local_gateway import _open_access_warning, is_loopback
from handlers.settings import Settings


def test_credentials_come_from_flag_or_environment(tmp_path: Path) -> None:
    env = {"BUCKETQ_CREDENTIALS": str(tmp_path / "env"), "BUCKETQ_CREDENTIALS_SECRET": "s"}
    from_env = Settings.resolve({}, env)
    assert from_env.credentials == tmp_path / "env" and from_env.authenticates
    flagged = Settings.resolve({"credentials": tmp_path / "flag"}, env)
    assert flagged.credentials == tmp_path / "flag"
    assert not Settings.resolve({}, {}).authenticates


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
     ("10.1.2.3", False), ("example.internal", False)],
)  # fmt: skip
def test_open_listener_warning(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    warning = _open_access_warning(Settings(host=host))
    assert (warning is None) is loopback
    assert _open_access_warning(Settings(host=host, credentials=Path("keys"))) is None


def test_bad_credentials_file_stops_serve(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("AKIDGOOD00000001 secret\nonly-one-field\n")
    done = subprocess.run(
        [sys.executable, "-m", "handlers.cli", "serve", "--port", "0", "--credentials", str(keys),
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode != 0
    assert "line 2" in done.stderr
    assert not (tmp_path / "data").exists()
