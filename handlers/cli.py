"""The `bucketq` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from handlers.operator_cli import add_operator_commands, run


def _serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the SQS-compatible gateway",
        description="Serve the SQS API. Every flag has a BUCKETQ_* environment variable "
        "(BUCKETQ_PORT, BUCKETQ_S3_BUCKET, ...); a flag beats the environment.",
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 9324)")
    serve.add_argument(
        "--data-dir", type=Path, help="embedded storage directory (default ./.bucketq)"
    )
    serve.add_argument("--account-id", help="account id in queue URLs (default 000000000000)")
    serve.add_argument("--region", help="region in queue ARNs (default us-east-1)")
    serve.add_argument("--s3-bucket", help="keep message batches in this S3 bucket")
    serve.add_argument("--table", help="keep leases and metadata in this DynamoDB table")
    serve.add_argument(
        "--table-on-s3",
        action="store_true",
        default=None,
        help="keep leases and metadata in the S3 bucket too, on conditional writes "
        "(no DynamoDB; needs --s3-bucket, not --table)",
    )
    serve.add_argument("--endpoint-url", help="S3/DynamoDB endpoint (moto server, LocalStack)")
    serve.add_argument(
        "--create-resources",
        action="store_true",
        default=None,
        help="create the bucket and the table if they do not exist",
    )
    serve.add_argument(
        "--credentials",
        type=Path,
        help="accept only requests signed (AWS SigV4) with a key of this file: "
        "lines of ACCESS_KEY_ID SECRET_ACCESS_KEY [ACCOUNT_ID]",
    )
    serve.add_argument(
        "--credentials-secret",
        help="the same text in this AWS Secrets Manager secret (name or ARN)",
    )
    serve.add_argument(
        "--credentials-parameter",
        help="the same text in this SSM parameter (a SecureString)",
    )
    serve.add_argument(
        "--log-format",
        choices=("json", "text"),
        help="json: one object per line with a request id (default); text: for a terminal",
    )
    serve.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        help="info logs every call (default); warning only failures on our side",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bucketq", description="An SQS-compatible queue on object storage."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _serve_parser(commands)
    add_operator_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from handlers.local_gateway import serve
        from handlers.settings import Settings

        flags = {k: v for k, v in vars(args).items() if k != "command"}
        serve(Settings.resolve(flags))
    else:
        raise SystemExit(run(args))


if __name__ == "__main__":
    main()
