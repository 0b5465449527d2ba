"""Real SQS clients for the functional and integration suites: boto3 (AWS
JSON), botocore speaking the Query protocol, and the AWS CLI.

Each suite binds its own endpoint, credentials and region (the functional
gateway's test keys, LocalStack's ``test``/``test``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from handlers.query_names import query_service_description


def sqs_client(url: str, credentials: Mapping[str, str], region: str, **config: Any) -> Any:
    """A boto3 SQS client on ``url`` that retries once (``config``: more ``Config``)."""
    return boto3.client(
        "sqs",
        endpoint_url=url,
        region_name=region,
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, **config),
        **credentials,
    )


def write_query_model(data: Path) -> Path:
    """``data`` made a botocore data directory holding the Query-protocol SQS model
    (``handlers.query_names.query_service_description``); returns ``data``."""
    model_dir = data / "sqs" / "2012-11-05"
    model_dir.mkdir(parents=True)
    (model_dir / "service-2.json").write_text(json.dumps(query_service_description()))
    return data


def query_client(url: str, data: Path, credentials: Mapping[str, str], region: str) -> Any:
    """A botocore SQS client on ``url`` over the Query model in ``data`` (see
    ``write_query_model``), put first on the loader's search path; no retries."""
    session = botocore.session.Session()
    session.get_component("data_loader").search_paths.insert(0, str(data))
    client = session.create_client(
        "sqs",
        endpoint_url=url,
        region_name=region,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        **credentials,
    )
    assert client.meta.service_model.protocol == "query"
    return client


def aws_cli(url: str, env: Mapping[str, str], *args: str) -> Any:
    """``aws sqs ARGS`` against ``url``, with ``env`` (its credentials and region)
    over this process's environment; its JSON output, ``{}`` when it prints none."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "awscli",
            "sqs",
            *args,
            "--endpoint-url",
            url,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "AWS_PAGER": ""},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}
