"""Fixtures of the deployment tooling's tests: one moto server for the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.moto_process import moto_process


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server (S3, DynamoDB, ...) over HTTP; its URL."""
    with moto_process(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url
