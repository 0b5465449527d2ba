"""Building the storage and the service from settings: shared by `bucketq serve`
and the Lambda entry point, so both run the same code on the same storage."""

from __future__ import annotations

from handlers.dispatch import Dispatcher, Identity
from handlers.settings import Settings
from service.sqs_service import QueueService
from storage.ports import Storage


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
    service = QueueService(await open_storage(settings), accounts=(settings.account_id,))
    return Dispatcher(service, Identity(settings.account_id, settings.region))
