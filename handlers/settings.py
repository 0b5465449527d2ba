"""Gateway settings: command-line flags over ``BUCKETQ_*`` environment variables
over defaults (DESIGN: "an explicit flag beats the environment")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from service.constants import DEFAULT_ACCOUNT_ID, DEFAULT_REGION


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9324
    data_dir: Path = Path(".bucketq")
    account_id: str = DEFAULT_ACCOUNT_ID
    region: str = DEFAULT_REGION
    s3_bucket: str | None = None
    table: str | None = None
    endpoint_url: str | None = None
    create_resources: bool = False
    #: Keep the table in the S3 bucket too (``storage.s3_table``): no DynamoDB.
    table_on_s3: bool = False
    #: Accept only SigV4-signed requests, with the keys of this file
    #: (handlers/credentials.py) or of this secret or SSM parameter.
    credentials: Path | None = None
    credentials_secret: str | None = None
    credentials_parameter: str | None = None
    #: On Lambda, serve without credentials only when this says so (the
    #: endpoint is public there; `bucketq serve` listens on loopback).
    allow_unauthenticated: bool = False
    #: ``json`` (one object per line, handlers/structured_logs.py) or ``text``.
    log_format: str = "json"
    log_level: str = "info"

    @property
    def authenticates(self) -> bool:
        return bool(self.credentials or self.credentials_secret or self.credentials_parameter)

    @property
    def uses_aws(self) -> bool:
        return bool(self.s3_bucket or self.table or self.table_on_s3)

    @classmethod
    def resolve(
        cls, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        flags = flags or {}
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            flag = flags.get(field.name)
            env = environ.get(f"BUCKETQ_{field.name.upper()}")
            if flag is not None and flag is not False:
                values[field.name] = flag
            elif env not in (None, ""):
                values[field.name] = _parse(field.name, str(env))
        return cls(**values)


def _parse(name: str, raw: str) -> Any:
    if name == "port":
        return int(raw)
    if name in ("data_dir", "credentials"):
        return Path(raw)
    if name in ("create_resources", "allow_unauthenticated", "table_on_s3"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw
