"""Building the storage, the service and the authenticator from settings:
shared by `bucketq serve` and the Lambda entry point, so both run the same
code on the same storage and check signatures the same way."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from handlers import tracing
from handlers.access_log import log_call
from handlers.authentication import Authenticator
from handlers.credentials import Credentials, load_credentials_file, parse_credentials
from handlers.dispatch import Dispatcher, Identity
from handlers.http_edge import Authenticate, CallRecord
from handlers.request_metrics import RequestMetrics
from handlers.settings import Settings
from handlers.traced_storage import traced_storage
from service.sqs_service import SWEEP_INTERVAL_SECONDS, QueueService
from storage.ports import Storage

#: Tests only: `bucketq serve` sweeps every that many seconds instead of every
#: minute (and ticks its background loop at least that often), so a test can
#: crash a server inside a sweep (tests/functional/test_crash_sweep.py).
SWEEP_INTERVAL_ENV_VAR = "BUCKETQ_TEST_SWEEP_INTERVAL_S"


class SettingsError(ValueError):
    """The settings name an incomplete or contradictory configuration."""


@dataclass(frozen=True)
class Gateway:
    """What a gateway serves with: the dispatcher, the authenticator when
    credentials are configured (None: requests are not checked), and the
    metrics of the calls it serves."""

    dispatcher: Dispatcher
    authenticator: Authenticate | None
    metrics: RequestMetrics = field(default_factory=RequestMetrics)

    def observe(self, call: CallRecord) -> None:
        """``handle_http``'s observer: count the call and log it."""
        self.metrics.observe(call)
        log_call(call)


async def open_storage(settings: Settings) -> Storage:
    if settings.table_on_s3:
        if settings.table:
            raise SettingsError("--table-on-s3 keeps the table in the bucket: give no --table")
        if not settings.s3_bucket:
            raise SettingsError("--table-on-s3 needs --s3-bucket")
        from storage.aws import s3_storage

        return await s3_storage(
            settings.s3_bucket,
            endpoint_url=settings.endpoint_url,
            region=settings.region,
            create_resources=settings.create_resources,
        )
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


async def load_credentials(settings: Settings) -> Credentials | None:
    """The configured access keys: a file, a secret or a parameter (one only)."""
    sources = [settings.credentials, settings.credentials_secret, settings.credentials_parameter]
    if sum(source is not None for source in sources) > 1:
        raise SettingsError("give one of --credentials, a credentials secret or a parameter")
    if settings.credentials is not None:
        return load_credentials_file(settings.credentials, settings.account_id)
    if settings.credentials_secret is None and settings.credentials_parameter is None:
        return None
    from storage.aws_secrets import read_parameter, read_secret

    endpoint_url, region = settings.endpoint_url, settings.region
    if settings.credentials_secret is not None:
        text = await read_secret(
            settings.credentials_secret, endpoint_url=endpoint_url, region=region
        )
    else:
        assert settings.credentials_parameter is not None
        name = settings.credentials_parameter
        text = await read_parameter(name, endpoint_url=endpoint_url, region=region)
    return parse_credentials(text, settings.account_id)


async def build_gateway(settings: Settings) -> Gateway:
    credentials = await load_credentials(settings)
    authenticator = Authenticator(credentials, settings.region) if credentials else None
    accounts = {settings.account_id, *(credentials.account_ids if credentials else ())}
    storage = await open_storage(settings)
    if tracing.enabled():
        storage = traced_storage(storage)
    interval = float(os.environ.get(SWEEP_INTERVAL_ENV_VAR) or SWEEP_INTERVAL_SECONDS)
    service = QueueService(storage, accounts=sorted(accounts), sweep_interval_s=interval)
    dispatcher = Dispatcher(service, Identity(settings.account_id, settings.region))
    return Gateway(dispatcher, authenticator)
