"""`bucketq serve --table-on-s3`: the flag, its environment variable, and the
combinations of storage flags it allows."""

from __future__ import annotations

import pytest
from moto import mock_aws

from handlers.cli import build_parser
from handlers.service_factory import SettingsError, open_storage
from handlers.settings import Settings
from storage.s3 import S3ObjectStore
from storage.s3_table import S3Table


def test_flag_and_environment() -> None:
    args = build_parser().parse_args(["serve", "--s3-bucket", "b", "--table-on-s3"])
    flags = {k: v for k, v in vars(args).items() if k != "command"}
    assert Settings.resolve(flags, {}).table_on_s3
    assert not Settings.resolve({}, {}).table_on_s3
    for raw, expected in (("1", True), ("true", True), ("0", False), ("", False)):
        assert Settings.resolve({}, {"BUCKETQ_TABLE_ON_S3": raw}).table_on_s3 is expected
    assert Settings(s3_bucket="b", table_on_s3=True).uses_aws


@pytest.mark.parametrize(
    "settings",
    [
        Settings(s3_bucket="b", table="t", table_on_s3=True),
        Settings(table="t", table_on_s3=True),
        Settings(table_on_s3=True),
    ],
    ids=["with-table", "table-without-bucket", "no-bucket"],
)
async def test_contradictory_or_incomplete_settings(settings: Settings) -> None:
    with pytest.raises(SettingsError):
        await open_storage(settings)


async def test_opens_objects_and_table_in_one_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        storage = await open_storage(
            Settings(s3_bucket="only-bucket", table_on_s3=True, create_resources=False)
        )
        try:
            assert isinstance(storage.objects, S3ObjectStore)
            assert isinstance(storage.table, S3Table)
            assert storage.objects.bucket == storage.table.bucket == "only-bucket"
            assert storage.table.counter is storage.objects.counter
        finally:
            await storage.close()
