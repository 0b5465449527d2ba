"""The access keys a gateway accepts: parsed from the credentials text.

The text (a file given to ``bucketq serve --credentials``, or the value of a
Secrets Manager secret or SSM parameter on Lambda) holds one key per line::

    # a comment line; blank lines are ignored too
    ACCESS_KEY_ID SECRET_ACCESS_KEY [ACCOUNT_ID]

A key without an account id belongs to the gateway's own account. Every
malformed line is refused with its line number, never skipped: a typo must
not silently lock a client out or, worse, let a key stand for another account.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from service.queue_names import is_valid_account_id

#: Letters, digits and underscores (AWS's own are 16 to 128 of them); never a
#: "/", which separates the fields of a signature's credential scope.
_ACCESS_KEY_ID = re.compile(r"^[A-Za-z0-9_]{3,128}$")


class CredentialsError(ValueError):
    """The credentials text is malformed."""


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str = ""
    account_id: str = ""

    def __repr__(self) -> str:  # never print the secret
        return f"AccessKey({self.access_key_id!r}, account_id={self.account_id!r})"


class Credentials(Mapping[str, AccessKey]):
    """Access keys by id."""

    def __init__(self, keys: Mapping[str, AccessKey]) -> None:
        self._keys = dict(keys)

    def __getitem__(self, access_key_id: str) -> AccessKey:
        return self._keys[access_key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def account_ids(self) -> tuple[str, ...]:
        return tuple(sorted({key.account_id for key in self._keys.values()}))


def parse_credentials(text: str, default_account_id: str) -> Credentials:
    """The keys in ``text``; ``CredentialsError`` names the first bad line."""
    keys: dict[str, AccessKey] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        key = _key(fields, default_account_id, number)
        if key.access_key_id in keys:
            raise CredentialsError(f"line {number}: access key {key.access_key_id} is repeated")
        keys[key.access_key_id] = key
    if not keys:
        raise CredentialsError("no access keys: expected ACCESS_KEY_ID SECRET [ACCOUNT_ID]")
    return Credentials(keys)


def _key(fields: list[str], default_account_id: str, number: int) -> AccessKey:
    if len(fields) not in (2, 3):
        raise CredentialsError(
            f"line {number}: expected ACCESS_KEY_ID SECRET_ACCESS_KEY [ACCOUNT_ID]"
        )
    access_key_id, secret = fields[0], fields[1]
    account_id = fields[2] if len(fields) == 3 else default_account_id
    if not _ACCESS_KEY_ID.match(access_key_id):
        raise CredentialsError(f"line {number}: an access key id is 3 to 128 letters or digits")
    if not is_valid_account_id(account_id):
        raise CredentialsError(f"line {number}: an account id is 12 digits")
    return AccessKey(access_key_id, secret, account_id)


def load_credentials_file(path: Path, default_account_id: str) -> Credentials:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror}") from None
    return parse_credentials(text, default_account_id)
