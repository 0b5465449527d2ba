"""template.yaml: it lints clean, translates with the AWS SAM translator, and
agrees with the code: the table `--create-resources` makes and the bucket and
table settings `python -m iac.resources` applies (one definition for both),
the handler name and its settings, and permissions that are exactly the
requests the storage adapters make at run time (least privilege), on exactly
the bucket, table and credentials the stack names, and that suffice for what
the scheduled function runs (a sweep, move task steps)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.session import get_session
from cfnlint.api import lint
from moto import mock_aws
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

import handlers
from handlers.lambda_entry import MARGIN_SECONDS, SCHEDULED_RUN_SECONDS
from handlers.settings import Settings
from iac import validate
from iac.definitions import BUCKET_PROPERTIES, TABLE_PROPERTIES, bucket_policy
from service.clock import ManualClock
from service.constants import MAX_RETENTION_SECONDS
from service.context import RequestContext
from service.fifo_model import dedup_partition
from service.queue_names import parse_queue_url
from service.queue_registry import GRAVES_PARTITION
from service.segments import (
    StoredMessage,
    encode_segment_object,
    new_segment_id,
    object_key,
    segment_partition,
)
from service.send import SendEntry
from service.sqs_service import QueueService
from service.sweeper import SAFETY_AGE_MS
from storage.aws_resources import DUE_INDEX, table_definition
from storage.memory import memory_storage
from storage.ports import Check, Delete, Put, Storage
from tests.support.dead_letters import arn_of, receive_all, redrive

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
LINT = validate.lint_args()  # errors, warnings, infos: as `python -m iac.validate` lints

#: Where the queue function finds the credentials requests are authenticated
#: against (``Settings.credentials_secret`` and ``credentials_parameter``).
CREDENTIALS_ENV = {"BUCKETQ_CREDENTIALS_SECRET", "BUCKETQ_CREDENTIALS_PARAMETER"}
#: What only the function serving requests is told: how to authenticate them.
REQUEST_ENV = CREDENTIALS_ENV | {"BUCKETQ_ALLOW_UNAUTHENTICATED"}
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bucketq/credentials-AbC123"
PARAMETER = "/bucketq/credentials"
#: A deployment as the template's Rules accept it by default: with credentials.
SECRET = {"CredentialsSecretArn": SECRET_ARN}
SCENARIOS: dict[str, dict[str, str]] = {
    "no credentials": {"AllowUnauthenticated": "true"},
    "secret": {"CredentialsSecretArn": SECRET_ARN},
    "parameter": {"CredentialsParameterName": PARAMETER},
}

BUCKET_ARN = {"Fn::GetAtt": ["MessageBucket", "Arn"]}
OBJECTS_ARN = {"Fn::Sub": "${MessageBucket.Arn}/*"}
TABLE_ARN = {"Fn::GetAtt": ["StateTable", "Arn"]}
INDEX_ARN = {"Fn::Sub": "${StateTable.Arn}/index/" + DUE_INDEX}
ACCOUNT_KEYS = {"Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"}
PARAMETER_ARN = {
    "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}"
    ":parameter${CredentialsParameterName}"
}
#: What each resource of the stack is called in an IAM statement.
TARGETS = {
    "objects": OBJECTS_ARN,
    "bucket": BUCKET_ARN,
    "table": TABLE_ARN,
    "index": INDEX_ARN,
    "account keys": ACCOUNT_KEYS,
    "secret": {"Ref": "CredentialsSecretArn"},
    "parameter": PARAMETER_ARN,
}


def load_template() -> dict[str, Any]:
    """The template as CloudFormation reads it (SAM's own YAML loader)."""
    template: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return template


# ---- the template and the code agree ------------------------------------------------


def test_table_matches_the_adapter_definition() -> None:
    properties = load_template()["Resources"]["StateTable"]["Properties"]
    expected = table_definition("ignored")
    for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"):
        assert properties[key] == expected[key], key
    # nothing else but the settings iac.resources applies too
    created = {k: v for k, v in expected.items() if k != "TableName"}
    assert properties == created | TABLE_PROPERTIES


def test_bucket_and_its_policy_match_the_iac_definitions() -> None:
    resources = load_template()["Resources"]
    assert resources["MessageBucket"]["Properties"] == BUCKET_PROPERTIES
    policy = resources["MessageBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "MessageBucket"}
    assert policy["PolicyDocument"] == bucket_policy(BUCKET_ARN, OBJECTS_ARN)
    buckets = [r for r in resources.values() if r["Type"] == "AWS::S3::Bucket"]
    assert len(buckets) == 1


def test_function_runs_the_lambda_entry_with_known_settings() -> None:
    function = load_template()["Resources"]["QueueFunction"]["Properties"]
    module, name = function["Handler"].rsplit(".", 1)
    assert module == "handlers" and callable(getattr(handlers, name))
    known = {f"BUCKETQ_{name.upper()}" for name in Settings.__dataclass_fields__}
    assert known >= CREDENTIALS_ENV  # the settings the credential loader reads
    assert set(function["Environment"]["Variables"]) <= known
    # the stack creates the bucket and the table: the function never does
    assert "BUCKETQ_CREATE_RESOURCES" not in function["Environment"]["Variables"]


def test_background_work_runs_on_a_schedule() -> None:
    template = load_template()
    function = template["Resources"]["BackgroundFunction"]["Properties"]
    queue_function = template["Resources"]["QueueFunction"]["Properties"]
    assert function["Handler"] == queue_function["Handler"]
    # the same storage settings; no credentials: it serves no requests
    queue_variables = queue_function["Environment"]["Variables"]
    expected = {k: v for k, v in queue_variables.items() if k not in REQUEST_ENV}
    assert function["Environment"]["Variables"] == expected
    (event,) = function["Events"].values()
    assert event["Type"] == "Schedule" and event["Properties"]["Schedule"] == {
        "Ref": "ScheduleRate"
    }
    rate = template["Parameters"]["ScheduleRate"]
    assert rate["Default"] == "rate(1 minute)"  # as often as `bucketq serve` sweeps
    for value in rate["AllowedValues"]:  # EventBridge: "1 minute", "N minutes"
        assert re.fullmatch(r"rate\((1 minute|([2-9]|[1-5][0-9]) minutes)\)", value), value
    # the entry point works for less than the function may run
    assert function["Timeout"] >= SCHEDULED_RUN_SECONDS + MARGIN_SECONDS
    # a failed run is not retried: the next scheduled one is at most minutes away
    assert function["EventInvokeConfig"]["MaximumRetryAttempts"] == 0


def test_functions_log_to_groups_with_retention() -> None:
    template = load_template()
    resources = template["Resources"]
    groups = set()
    for name in ("QueueFunction", "BackgroundFunction"):
        group = resources[name]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[group]["Type"] == "AWS::Logs::LogGroup"
        assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        groups.add(group)
    assert len(groups) == 2
    retention = template["Parameters"]["LogRetentionDays"]
    assert retention["Default"] in retention["AllowedValues"]


def test_outputs_name_the_endpoint_and_the_queue_urls() -> None:
    outputs = load_template()["Outputs"]
    endpoint = outputs["EndpointUrl"]["Value"]["Fn::Sub"]
    assert endpoint == "https://${QueueApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    # queue URLs are ENDPOINT/ACCOUNT_ID/NAME, the account being BUCKETQ_ACCOUNT_ID's
    assert outputs["QueueUrlPrefix"]["Value"] == {"Fn::Sub": endpoint + "/${AWS::AccountId}"}
    variables = load_template()["Resources"]["QueueFunction"]["Properties"]["Environment"]
    assert variables["Variables"]["BUCKETQ_ACCOUNT_ID"] == {"Ref": "AWS::AccountId"}


# ---- linting and translation -------------------------------------------------------------


def test_cfn_lint_finds_nothing() -> None:
    assert REGION in validate.LINT_REGIONS and "I" in validate.LINT_INCLUDE_CHECKS
    assert validate.lint(TEMPLATE) == []


def test_cfn_lint_as_configured_reports_even_informational_findings() -> None:
    text = TEMPLATE.read_text()
    unprotected = text.replace("    DeletionPolicy: Retain\n    UpdateReplacePolicy: Retain\n", "")
    assert unprotected != text
    found = {match.rule.id for match in lint(unprotected, config=LINT)}
    assert "I3011" in found  # stateful resources without a deletion policy


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    """The template after the AWS::Serverless-2016-10-31 transform, as
    CloudFormation would deploy it; managed policy names resolved through
    moto's IAM (with AWS's managed policies loaded)."""
    template = validate.as_packaged(load_template())  # as `sam package` leaves it
    with (
        pytest.MonkeyPatch.context() as env,
        mock_aws(config={"iam": {"load_aws_managed_policies": True}}),
    ):
        env.setenv("AWS_DEFAULT_REGION", REGION)
        iam = boto3.client(
            "iam",
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        result: dict[str, Any] = transform(template, {}, ManagedPolicyLoader(iam))
    return result


def test_the_sam_translator_translates_it(translated: dict[str, Any]) -> None:
    assert "Transform" not in translated
    types = {name: r["Type"] for name, r in translated["Resources"].items()}
    assert not [t for t in types.values() if t.startswith("AWS::Serverless::")]
    for function in ("QueueFunction", "BackgroundFunction"):
        assert types[function] == "AWS::Lambda::Function"
        role = translated["Resources"][function]["Properties"]["Role"]
        assert role == {"Fn::GetAtt": [f"{function}Role", "Arn"]}
        assert types[f"{function}Role"] == "AWS::IAM::Role"
    assert types["QueueApi"] == "AWS::ApiGatewayV2::Api"
    assert types["BackgroundFunctionSchedule"] == "AWS::Events::Rule"


# ---- evaluating the template for given parameters ------------------------------------

_NO_VALUE = object()


def conditions_for(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    """The template's conditions, evaluated for ``parameters`` over the defaults."""
    values = {name: p.get("Default") for name, p in template["Parameters"].items()}
    values |= parameters
    conditions: dict[str, bool] = {}

    def evaluate(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((function, argument),) = node.items()
            if function == "Ref":
                return values[argument]
            if function == "Condition":
                return evaluate(template["Conditions"][argument])
            if function == "Fn::Equals":
                return evaluate(argument[0]) == evaluate(argument[1])
            if function == "Fn::Not":
                return not evaluate(argument[0])
            if function == "Fn::Or":
                return any(evaluate(a) for a in argument)
            if function == "Fn::And":
                return all(evaluate(a) for a in argument)
            raise AssertionError(f"cannot evaluate {function}")
        return node

    for name, expression in template["Conditions"].items():
        conditions[name] = bool(evaluate(expression))
    conditions["__rules__"] = all(
        evaluate(assertion["Assert"])
        for rule in template.get("Rules", {}).values()
        if evaluate(rule.get("RuleCondition", True))
        for assertion in rule["Assertions"]
    )
    return conditions


def resolved(node: Any, conditions: dict[str, bool]) -> Any:
    """``node`` with every Fn::If decided and AWS::NoValue removed."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return resolved(yes if conditions[name] else no, conditions)
        if node == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        pairs = ((k, resolved(v, conditions)) for k, v in node.items())
        return {k: v for k, v in pairs if v is not _NO_VALUE}
    if isinstance(node, list):
        items = (resolved(v, conditions) for v in node)
        return [v for v in items if v is not _NO_VALUE]
    return node


def deployed(translated: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    conditions = conditions_for(translated, parameters)
    assert conditions.pop("__rules__"), "the template's Rules refuse these parameters"
    return dict(resolved(copy.deepcopy(translated), conditions))


def statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    properties = template["Resources"][role]["Properties"]
    return [s for p in properties.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def target_of(resource: Any) -> str:
    for name, arn in TARGETS.items():
        if resource == arn:
            return name
    raise AssertionError(f"a statement grants on {resource!r}, not on a resource of the stack")


def grants(template: dict[str, Any], role: str) -> set[tuple[str, str]]:
    """(action, target) pairs the role allows."""
    return {
        (action, target_of(resource))
        for statement in statements(template, role)
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }


# ---- least privilege ---------------------------------------------------------------------


def _operations_called(path: Path, service: str) -> set[str]:
    """The botocore operations of ``service`` that the module at ``path`` calls
    (``client.put_object(...)`` or by name, ``_send(..., "get_item", ...)``)."""
    source = path.read_text()
    return {
        operation
        for operation in get_session().get_service_model(service).operation_names
        if re.search(rf'\.{xform_name(operation)}\(|"{xform_name(operation)}"', source)
    }


def _transaction_ops_used() -> set[type]:
    """The kinds of operation the service puts in table transactions."""
    sources = "\n".join(p.read_text() for p in (ROOT / "service").glob("*.py"))
    return {op for op in (Put, Delete, Check) if re.search(rf"\b{op.__name__}\(", sources)}


def storage_actions() -> set[str]:
    """The IAM actions behind every request the S3 and DynamoDB adapters make."""
    s3 = _operations_called(ROOT / "storage" / "s3.py", "s3")
    dynamodb = _operations_called(ROOT / "storage" / "dynamo.py", "dynamodb")
    assert {"PutObject", "GetObject"} <= s3 and {"GetItem", "TransactWriteItems"} <= dynamodb
    s3_actions = {"ListObjectsV2": "s3:ListBucket", "HeadObject": "s3:GetObject"}
    actions = {s3_actions.get(op, f"s3:{op}") for op in s3}
    # a transaction is authorised item by item, as the single-item actions
    item_actions = {Put: "PutItem", Delete: "DeleteItem", Check: "ConditionCheckItem"}
    for op in dynamodb - {"TransactWriteItems"}:
        actions.add(f"dynamodb:{op}")
    for kind in _transaction_ops_used():
        actions.add(f"dynamodb:{item_actions[kind]}")
    return actions


def test_storage_permissions_are_exactly_what_the_adapters_request(
    translated: dict[str, Any],
) -> None:
    template = deployed(translated, SECRET)
    needed = storage_actions()
    for role in ("QueueFunctionRole", "BackgroundFunctionRole"):
        granted = {a for a, _ in grants(template, role) if a.split(":")[0] in ("s3", "dynamodb")}
        assert granted == needed, role


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_grant_is_an_exact_action_on_a_resource_of_the_stack(
    translated: dict[str, Any], scenario: str
) -> None:
    template = deployed(translated, SCENARIOS[scenario])
    for role in ("QueueFunctionRole", "BackgroundFunctionRole"):
        for statement in statements(template, role):
            assert statement["Effect"] == "Allow"
            assert "NotAction" not in statement and "NotResource" not in statement
            for action in as_list(statement["Action"]):
                assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), action  # no wildcard
            for resource in as_list(statement["Resource"]):
                target = target_of(resource)  # never "*"
                service = {a.split(":")[0] for a in as_list(statement["Action"])}
                assert (
                    service
                    <= {
                        "objects": {"s3"},
                        "bucket": {"s3"},
                        "table": {"dynamodb"},
                        "index": {"dynamodb"},
                        "account keys": {"kms"},
                        "secret": {"secretsmanager"},
                        "parameter": {"ssm"},
                    }[target]
                )
        arns = translated["Resources"][role]["Properties"]["ManagedPolicyArns"]
        assert [str(a).rsplit("/", 1)[-1] for a in arns] == ["AWSLambdaBasicExecutionRole"]


def test_object_actions_and_index_queries(translated: dict[str, Any]) -> None:
    template = deployed(translated, SECRET)
    queue = grants(template, "QueueFunctionRole")
    move = grants(template, "BackgroundFunctionRole")
    for pairs in (queue, move):
        storage = {(a, t) for a, t in pairs if not a.startswith("kms:")}
        assert {t for a, t in storage if a.endswith("Object")} == {"objects"}
        assert {t for a, t in storage if a == "s3:ListBucket"} == {"bucket"}
        assert {t for a, t in storage if a.startswith("dynamodb:") and a != "dynamodb:Query"} == {
            "table"
        }
    assert ("dynamodb:Query", "index") in queue  # receives find due segments there
    assert ("dynamodb:Query", "index") not in move


def test_kms_only_through_s3_for_this_bucket(translated: dict[str, Any]) -> None:
    template = deployed(translated, SCENARIOS["no credentials"])
    for role in ("QueueFunctionRole", "BackgroundFunctionRole"):
        (kms,) = [s for s in statements(template, role) if s["Sid"] == "MessageObjectKeys"]
        assert sorted(as_list(kms["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert kms["Resource"] == ACCOUNT_KEYS
        via = kms["Condition"]["StringEquals"]["kms:ViaService"]
        assert via == {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}
        context = kms["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
        assert sorted(map(str, context)) == sorted(map(str, [BUCKET_ARN, OBJECTS_ARN]))
        others = [s for s in statements(template, role) if "kms:" in str(s["Action"])]
        assert others == [kms]  # no other KMS grant without credentials


# ---- credentials --------------------------------------------------------------------------


def _credentials_statements(template: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    return {
        s["Sid"]: s for s in statements(template, role) if str(s["Sid"]).startswith("Credentials")
    }


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_credentials_reach_only_the_queue_function(
    translated: dict[str, Any], scenario: str
) -> None:
    parameters = SCENARIOS[scenario]
    template = deployed(translated, parameters)
    resources = template["Resources"]
    variables = resources["QueueFunction"]["Properties"]["Environment"]["Variables"]
    granted = _credentials_statements(template, "QueueFunctionRole")
    expected_variables = {}
    if "CredentialsSecretArn" in parameters:
        expected_variables["BUCKETQ_CREDENTIALS_SECRET"] = {"Ref": "CredentialsSecretArn"}
        assert granted.keys() == {"CredentialsSecret", "CredentialsSecretKey"}
        assert granted["CredentialsSecret"]["Action"] == "secretsmanager:GetSecretValue"
        assert granted["CredentialsSecret"]["Resource"] == {"Ref": "CredentialsSecretArn"}
        key = granted["CredentialsSecretKey"]
        assert key["Action"] == "kms:Decrypt" and key["Resource"] == ACCOUNT_KEYS
        assert key["Condition"]["StringEquals"] == {
            "kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"},
            "kms:EncryptionContext:SecretARN": {"Ref": "CredentialsSecretArn"},
        }
    elif "CredentialsParameterName" in parameters:
        expected_variables["BUCKETQ_CREDENTIALS_PARAMETER"] = {"Ref": "CredentialsParameterName"}
        assert granted.keys() == {"CredentialsParameter", "CredentialsParameterKey"}
        assert granted["CredentialsParameter"]["Action"] == "ssm:GetParameter"
        assert granted["CredentialsParameter"]["Resource"] == PARAMETER_ARN
        key = granted["CredentialsParameterKey"]
        assert key["Action"] == "kms:Decrypt" and key["Resource"] == ACCOUNT_KEYS
        assert key["Condition"]["StringEquals"] == {
            "kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"},
            "kms:EncryptionContext:PARAMETER_ARN": PARAMETER_ARN,
        }
    else:
        assert granted == {}
    assert {k: v for k, v in variables.items() if k in CREDENTIALS_ENV} == expected_variables
    move = resources["BackgroundFunction"]["Properties"]["Environment"]["Variables"]
    assert not REQUEST_ENV & set(move)
    assert _credentials_statements(template, "BackgroundFunctionRole") == {}


def test_credentials_permissions_are_what_the_reader_requests(translated: dict[str, Any]) -> None:
    reader = ROOT / "storage" / "aws_secrets.py"
    assert _operations_called(reader, "secretsmanager") == {"GetSecretValue"}
    assert _operations_called(reader, "ssm") == {"GetParameter"}
    for scenario, action in (("secret", "secretsmanager:"), ("parameter", "ssm:")):
        template = deployed(translated, SCENARIOS[scenario])
        granted = {a for a, _ in grants(template, "QueueFunctionRole") if a.startswith(action)}
        assert granted == {action + ("GetSecretValue" if scenario == "secret" else "GetParameter")}


def test_one_credentials_source_and_none_only_when_asked_for() -> None:
    template = load_template()
    both = {"CredentialsSecretArn": SECRET_ARN, "CredentialsParameterName": PARAMETER}
    assert not conditions_for(template, both)["__rules__"]
    # the defaults would deploy a public endpoint that checks nothing
    assert not conditions_for(template, {})["__rules__"]
    for parameters in SCENARIOS.values():
        assert conditions_for(template, parameters)["__rules__"]


@pytest.mark.parametrize(
    ("parameter", "value", "allowed"),
    [
        ("CredentialsSecretArn", "", True),
        ("CredentialsSecretArn", SECRET_ARN, True),
        ("CredentialsSecretArn", SECRET_ARN.rsplit("-", 1)[0], False),  # a partial ARN
        ("CredentialsSecretArn", SECRET_ARN.replace("credentials", "*"), False),
        ("CredentialsSecretArn", "bucketq/credentials", False),
        ("CredentialsParameterName", "", True),
        ("CredentialsParameterName", PARAMETER, True),
        ("CredentialsParameterName", "bucketq", False),  # its ARN needs the leading /
        ("CredentialsParameterName", "/bucketq/*", False),
        ("CredentialsParameterName", "/bucketq/", False),
    ],
)
def test_credential_parameters_name_exactly_one_resource(
    parameter: str, value: str, allowed: bool
) -> None:
    pattern = load_template()["Parameters"][parameter]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is allowed


# ---- bucket and table ------------------------------------------------------------------------


def test_bucket_is_private_encrypted_tls_only_and_expires_old_objects(
    translated: dict[str, Any],
) -> None:
    bucket = translated["Resources"]["MessageBucket"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    properties = bucket["Properties"]
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert rule["BucketKeyEnabled"] is True
    block = properties["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"),
        True,
    )
    assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]

    rules = properties["LifecycleConfiguration"]["Rules"]
    assert all(r["Status"] == "Enabled" for r in rules)
    (abort,) = [r for r in rules if "AbortIncompleteMultipartUpload" in r]
    assert abort["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "Prefix" not in abort
    (expire,) = [r for r in rules if "ExpirationInDays" in r]
    # only segment objects, and only once every message they can hold expired
    assert object_key("0123456789abcdef", "segment").startswith(expire["Prefix"])
    assert expire["Prefix"] == "q/"
    assert expire["ExpirationInDays"] * 86_400 > MAX_RETENTION_SECONDS


def test_bucket_policy_denies_requests_without_tls(translated: dict[str, Any]) -> None:
    policies = [
        r["Properties"]
        for r in translated["Resources"].values()
        if r["Type"] == "AWS::S3::BucketPolicy"
    ]
    (policy,) = policies
    assert policy["Bucket"] == {"Ref": "MessageBucket"}
    (deny,) = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Action"] in ("s3:*", ["s3:*"])
    assert sorted(map(str, as_list(deny["Resource"]))) == sorted(
        map(str, [BUCKET_ARN, OBJECTS_ARN])
    )
    assert not [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]


def test_table_is_encrypted_recoverable_and_protected(translated: dict[str, Any]) -> None:
    table = translated["Resources"]["StateTable"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    properties = table["Properties"]
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert properties["DeletionProtectionEnabled"] is True


# ---- the scheduled function's permissions suffice for what it runs ----------------------


def record_requests(storage: Storage) -> set[tuple[str, str]]:
    """Record, as (IAM action, target) pairs, the requests made on ``storage``
    from now on (what the S3 and DynamoDB adapters would send)."""
    seen: set[tuple[str, str]] = set()
    table_actions = {
        "get": "dynamodb:GetItem",
        "put": "dynamodb:PutItem",
        "delete": "dynamodb:DeleteItem",
        "add": "dynamodb:UpdateItem",
        "query": "dynamodb:Query",
    }
    object_actions = {
        "get": ("s3:GetObject", "objects"),
        "put": ("s3:PutObject", "objects"),
        "delete": ("s3:DeleteObject", "objects"),
        "list_keys": ("s3:ListBucket", "bucket"),
    }

    def watch(target: Any, name: str, pairs: Callable[..., Iterator[tuple[str, str]]]) -> None:
        method = getattr(target, name)

        async def recorded(*args: Any, **kwargs: Any) -> Any:
            seen.update(pairs(*args, **kwargs))
            return await method(*args, **kwargs)

        setattr(target, name, recorded)

    def one(pair: tuple[str, str]) -> Callable[..., Iterator[tuple[str, str]]]:
        return lambda *args, **kwargs: iter([pair])

    def transaction(ops: list[Any]) -> Iterator[tuple[str, str]]:
        kinds = {Put: "dynamodb:PutItem", Delete: "dynamodb:DeleteItem"}
        kinds[Check] = "dynamodb:ConditionCheckItem"
        return ((kinds[type(op)], "table") for op in ops)

    for name, action in table_actions.items():
        watch(storage.table, name, one((action, "table")))
    watch(storage.table, "query_due", one(("dynamodb:Query", "index")))
    watch(storage.table, "transact", transaction)
    for name, pair in object_actions.items():
        watch(storage.objects, name, one(pair))
    return seen


async def _fill_dead_letter_queue(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, fifo: bool
) -> str:
    """A dead-letter queue holding three messages; its ARN."""
    suffix, attributes = (".fifo", {"FifoQueue": "true"}) if fifo else ("", {})
    attributes |= {"ContentBasedDeduplication": "true"} if fifo else {}
    dlq = str((await svc.create_queue(ctx, f"dlq{suffix}", attributes, {}))["QueueUrl"])
    dlq_arn = await arn_of(svc, ctx, dlq)
    source_attributes = attributes | {
        "VisibilityTimeout": "10",
        "RedrivePolicy": redrive(dlq_arn, 1),
    }
    source = str((await svc.create_queue(ctx, f"src{suffix}", source_attributes, {}))["QueueUrl"])
    for n, group in enumerate("aab"):
        await svc.send_message(ctx, source, SendEntry(f"m{n}", group_id=group if fifo else None))
    assert len(await receive_all(svc, ctx, source)) == 3
    clock.advance(11)
    assert await receive_all(svc, ctx, source) == []  # moved to the DLQ instead
    return dlq_arn


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
async def test_a_move_task_step_needs_only_the_scheduled_functions_permissions(
    translated: dict[str, Any], ctx: RequestContext, clock: ManualClock, fifo: bool
) -> None:
    storage = memory_storage()
    svc = QueueService(storage, clock)
    try:
        dlq_arn = await _fill_dead_letter_queue(svc, ctx, clock, fifo)
        await svc.start_message_move_task(ctx, dlq_arn, None, None)
        await svc.flush()
        clock.advance(1)
        requests = record_requests(storage)
        # what the scheduled invocation does (handlers.lambda_entry)
        assert await svc.advance_move_tasks() == 3
        await svc.flush()
        clock.advance(1)
        assert await svc.advance_move_tasks() == 0
        assert await svc.running_move_tasks() == 0
        await svc.flush()
    finally:
        await svc.close()
    assert ("s3:PutObject", "objects") in requests and ("dynamodb:UpdateItem", "table") in requests
    granted = grants(deployed(translated, SECRET), "BackgroundFunctionRole")
    assert requests <= granted


async def _leave_garbage_of_every_kind(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    """What the sweeper removes: expired and purged segments, an orphan
    object, a deleted queue, expired FIFO messages, deduplication and
    receive-attempt items and unreferenced FIFO commit objects."""
    short = {"MessageRetentionPeriod": "60"}
    expiring = str((await svc.create_queue(ctx, "expiring", short, {}))["QueueUrl"])
    purged = str((await svc.create_queue(ctx, "purged", {}, {}))["QueueUrl"])
    doomed = str((await svc.create_queue(ctx, "doomed", {}, {}))["QueueUrl"])
    fifo_attributes = short | {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    fifo = str((await svc.create_queue(ctx, "old.fifo", fifo_attributes, {}))["QueueUrl"])
    for url in (expiring, purged, doomed):
        await svc.send_message(ctx, url, SendEntry("garbage"))
    for group in "ab":
        await svc.send_message(ctx, fifo, SendEntry(f"in {group}", group_id=group))
    leased = await svc.receive_message(ctx, fifo, max_messages=1, attempt_id="attempt-1")
    assert leased["Messages"]
    await svc.purge_queue(ctx, purged)
    await svc.delete_queue(ctx, doomed)
    live = await svc.queues.get(parse_queue_url(purged), fresh=True)
    orphan = StoredMessage("orphan-id", "orphan", {}, "md5", "sender")
    key = object_key(live.queue_id, new_segment_id(clock.now_ms()))
    await svc.storage.objects.put(key, encode_segment_object(clock.now_ms(), [orphan]))
    fifo_id = (await svc.queues.get(parse_queue_url(fifo), fresh=True)).queue_id
    assert await svc.storage.table.query(dedup_partition(fifo_id), limit=10)
    assert await svc.storage.table.query(segment_partition(live.queue_id), limit=10)
    assert await svc.storage.table.query(GRAVES_PARTITION, limit=10)
    await svc.flush()
    clock.advance(SAFETY_AGE_MS / 1000 + 61)  # past retention and the safety age


async def test_a_sweep_needs_only_the_scheduled_functions_permissions(
    translated: dict[str, Any], ctx: RequestContext, clock: ManualClock
) -> None:
    storage = memory_storage()
    svc = QueueService(storage, clock)
    try:
        await _leave_garbage_of_every_kind(svc, ctx, clock)
        requests = record_requests(storage)
        # what the scheduled invocation does (handlers.lambda_entry), twice:
        # FIFO commit objects go once their group segments have gone
        first = await svc.sweep()
        await svc.flush()
        clock.advance(SAFETY_AGE_MS / 1000 + 1)
        second = await svc.sweep()
        await svc.flush()
    finally:
        await svc.close()
    report = first.add(second)
    assert report.segments >= 2 and report.orphan_objects >= 2 and report.graves == 1
    assert report.fifo_expired >= 1 and report.expired_items >= 2
    expected = {("s3:ListBucket", "bucket"), ("s3:DeleteObject", "objects")}
    assert expected | {("dynamodb:DeleteItem", "table")} <= requests
    granted = grants(deployed(translated, SECRET), "BackgroundFunctionRole")
    assert requests <= granted
