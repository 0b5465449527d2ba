"""Reading the gateway's credentials text from AWS: a Secrets Manager secret or
an SSM (SecureString) parameter, once, when a Lambda execution environment or
a `bucketq serve` starts. Backend errors become ``SecretUnavailable`` here, at
the adapter boundary, with the name that could not be read."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from storage.aws_clients import open_client
from storage.ports import StorageError


class SecretUnavailable(StorageError):
    """The secret or parameter could not be read."""


async def read_secret(secret_id: str, *, endpoint_url: str | None, region: str) -> str:
    """The ``SecretString`` of a Secrets Manager secret."""
    client, close = await open_client("secretsmanager", endpoint_url=endpoint_url, region=region)
    try:
        answer = await client.get_secret_value(SecretId=secret_id)
    except (ClientError, BotoCoreError) as exc:
        raise SecretUnavailable(f"cannot read secret {secret_id}: {exc}") from exc
    finally:
        await close()
    text = answer.get("SecretString")
    if not isinstance(text, str):
        raise SecretUnavailable(f"secret {secret_id} holds no SecretString")
    return text


async def read_parameter(name: str, *, endpoint_url: str | None, region: str) -> str:
    """The decrypted value of an SSM parameter."""
    client, close = await open_client("ssm", endpoint_url=endpoint_url, region=region)
    try:
        answer = await client.get_parameter(Name=name, WithDecryption=True)
    except (ClientError, BotoCoreError) as exc:
        raise SecretUnavailable(f"cannot read parameter {name}: {exc}") from exc
    finally:
        await close()
    return str(answer["Parameter"]["Value"])
