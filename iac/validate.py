"""Validate template.yaml offline: cfn-lint, then the AWS SAM translator.

    python -m iac.validate [--template template.yaml] [--output translated.json]
        [--region us-east-1]

What `sam validate --lint` and CloudFormation's own transform would say,
without AWS credentials or the SAM CLI: cfn-lint with every check, including
informational ones, for ``LINT_REGIONS``; then the
``AWS::Serverless-2016-10-31`` transform of the template as packaging leaves
it (the functions' local ``CodeUri``, the zip ``python -m iac.package``
builds, stands as an S3 location), whose result, the plain CloudFormation
template that would be deployed, ``--output`` writes out.
Managed policies named in a function's ``Policies`` would need IAM to
resolve; the template names none (its roles carry inline statements only), so
the translator here is given none and fails loudly if one appears.

cfn-lint and aws-sam-translator come with the test extras
(``pip install -e '.[test]'``). tests/unit/test_template.py lints with the
same settings.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
#: Regions cfn-lint checks resource types and properties against.
LINT_REGIONS = ["us-east-1", "eu-west-1"]
#: cfn-lint's errors (E) and warnings (W) run by default; this adds infos.
LINT_INCLUDE_CHECKS = ["I"]
DEFAULT_REGION = "us-east-1"
REGION_VARIABLES = ("AWS_DEFAULT_REGION", "AWS_REGION")
#: Where a packaged template's code would be (any S3 location will do).
PACKAGED_CODE_URI = "s3://bucketq-artifacts/lambda.zip"


class _NoManagedPolicies:
    """A managed policy loader for a template that names none."""

    def load(self) -> dict[str, str]:
        return {}


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise SystemExit(f"{exc.name} is missing: pip install -e '.[test]'") from exc


def lint_args() -> Any:
    """cfn-lint's configuration: every check, ``LINT_REGIONS``."""
    api = _module("cfnlint.api")
    return api.ManualArgs(include_checks=LINT_INCLUDE_CHECKS, regions=LINT_REGIONS)


def lint(path: Path = TEMPLATE) -> list[str]:
    """cfn-lint's findings, one line each (none: it lints clean)."""
    api = _module("cfnlint.api")
    return [str(match) for match in api.lint_file(path, lint_args())]


def as_packaged(template: dict[str, Any], code_uri: str = PACKAGED_CODE_URI) -> dict[str, Any]:
    """``template`` as `sam package` / `aws cloudformation package` leave it:
    local ``CodeUri`` paths replaced by an S3 location (the translator, like
    CloudFormation, takes nothing else)."""
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        code = properties.get("CodeUri")
        if isinstance(code, str) and not code.startswith("s3://"):
            properties["CodeUri"] = code_uri
    return template


def translate(path: Path = TEMPLATE, region: str = DEFAULT_REGION) -> dict[str, Any]:
    """The template after the SAM transform (raises on an invalid one), for a
    stack in ``region`` (its partition is in the managed policies' ARNs)."""
    yaml_helper = _module("samtranslator.yaml_helper")
    transform_module = _module("samtranslator.translator.transform")
    arns = _module("samtranslator.translator.arn_generator").ArnGenerator
    template = as_packaged(yaml_helper.yaml_parse(path.read_text()))
    # the translator asks boto3's default configuration for the region
    saved = arns.BOTO_SESSION_REGION_NAME, {k: os.environ.get(k) for k in REGION_VARIABLES}
    arns.BOTO_SESSION_REGION_NAME = region
    os.environ.update(dict.fromkeys(REGION_VARIABLES, region))
    try:
        translated: dict[str, Any] = transform_module.transform(template, {}, _NoManagedPolicies())
    finally:
        arns.BOTO_SESSION_REGION_NAME = saved[0]
        for name, value in saved[1].items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return translated


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iac.validate",
        description="cfn-lint and the AWS SAM translator on the template, offline.",
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--output", type=Path, help="write the translated template (JSON)")
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION,
        help="the stack's region, for the translator (default: AWS_REGION, us-east-1)",
    )
    args = parser.parse_args(argv)
    findings = lint(args.template)
    for finding in findings:
        print(finding)
    print(f"cfn-lint: {len(findings)} finding(s) in {args.template}")
    try:
        translated = translate(args.template, args.region)
    except Exception as exc:  # the translator's own errors say what is wrong
        print(f"SAM translator: {exc}", file=sys.stderr)
        return 1
    types: dict[str, int] = {}
    for resource in translated["Resources"].values():
        types[resource["Type"]] = types.get(resource["Type"], 0) + 1
    summary = ", ".join(f"{count} {kind}" for kind, count in sorted(types.items()))
    print(f"SAM translator: {len(translated['Resources'])} resources ({summary})")
    if args.output is not None:
        args.output.write_text(json.dumps(translated, indent=2, sort_keys=True) + "\n")
        print(f"translated template written to {args.output}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
