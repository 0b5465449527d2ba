"""handlers/credentials.py: the credentials text, and the loud refusal of bad lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.credentials import CredentialsError, load_credentials_file, parse_credentials


def test_keys_accounts_and_comments() -> None:
    keys = parse_credentials(
        "# team keys\n\nAKIDFIRST0000001 s3cr/t+1\n  AKIDSECOND000002  other 222222222222  \n",
        "111111111111",
    )
    assert keys["AKIDFIRST0000001"].secret_access_key == "s3cr/t+1"
    assert keys["AKIDFIRST0000001"].account_id == "111111111111"
    assert keys["AKIDSECOND000002"].account_id == "222222222222"
    assert keys.account_ids == ("111111111111", "222222222222")
    assert "s3cr" not in repr(keys["AKIDFIRST0000001"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no access keys"),
        ("AKIDONLY00000001\n", "line 1"),
        ("AKIDA0000000001 s 1 extra\n", "line 1"),
        ("AKIDA0000000001 s\nAKIDB/0000000002 s\n", "line 2"),
        ("AKIDA0000000001 s 12345\n", "12 digits"),
        ("AKIDA0000000001 s\nAKIDA0000000001 t\n", "repeated"),
    ],
)
def test_bad_lines_are_refused_by_number(text: str, message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        parse_credentials(text, "111111111111")


def test_an_unreadable_file_is_a_credentials_error(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="cannot read"):
        load_credentials_file(tmp_path / "missing", "111111111111")
