"""Building the storage and the service from settings: shared by `bucketq serve`
and the Lambda entry point, so both run the same code on the same storage."""

from __future__ import annotations

import os

from handlers.dispatch import Dispatcher, Identity
from handlers.settings import Settings
from service.sqs_service import SWEEP_INTERVAL_SECONDS, QueueService
from storage.ports import Storage

#: Tests only: `bucketq serve` sweeps every that many seconds instead of every
#: minute (and ticks its background loop at least that often), so a test can
#: crash a server inside a sweep (tests/functional/test_crash_sweep.py).
SWEEP_INTERVAL_ENV_VAR = "BUCKETQ_TEST_SWEEP_INTERVAL_S"


class SettingsError(ValueError):
    """The settings name an incomplete storage configuration."""


async def open_storage(settings: Settings) -> Storage:
    if settings.uses_aws:
        if not (settings.s3_bucket and settings.table):
            raise SettingsError("--s3-bucket and --table go together")
        from storage.aws import aws_storage

        return await aws_storage(
            settings.s3_bucket,
            settings.table,
            endpoint_url=settings.endpoint_url,
            region=settings.region,
            create_resources=settings.create_resources,
        )
    from storage.embedded import embedded_storage

    return embedded_storage(settings.data_dir)


async def build_dispatcher(settings: Settings) -> Dispatcher:
    storage = await open_storage(settings)
    interval = float(os.environ.get(SWEEP_INTERVAL_ENV_VAR) or SWEEP_INTERVAL_SECONDS)
    service = QueueService(storage, accounts=(settings.account_id,), sweep_interval_s=interval)
    return Dispatcher(service, Identity(settings.account_id, settings.region))
