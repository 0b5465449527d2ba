"""The protocol edge: SQS's two wire protocols, the local gateway and Lambda.

Public surface: ``lambda_handler`` (the Lambda entry point named in
template.yaml). Everything else is reached through its own module.
"""

from __future__ import annotations

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    # Imported on first call so `import handlers.x` stays light.
    from handlers.lambda_entry import lambda_handler as entry

    return entry(event, context)


__all__ = ["lambda_handler"]
