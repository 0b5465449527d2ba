"""template.yaml: it lints clean, translates with the AWS SAM translator, and
agrees with the code: the table `--create-resources` makes, the handler name
and its settings, and permissions that are exactly the requests the storage
adapters make at run time (least privilege), on exactly the bucket, table and
credentials the stack names."""

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
from cfnlint.api import ManualArgs, lint, lint_file
from moto import mock_aws
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

import handlers
from handlers.lambda_entry import MARGIN_SECONDS, SCHEDULED_RUN_SECONDS
from handlers.settings import Settings
from service.clock import ManualClock
from service.constants import MAX_RETENTION_SECONDS
from service.context import RequestContext
from service.segments import object_key
from service.send import SendEntry
from service.sqs_service import QueueService
from storage.aws_resources import DUE_INDEX, table_definition
from storage.memory import memory_storage
from storage.ports import Check, Delete, Put, Storage
from tests.support.dead_letters import arn_of, receive_all, redrive

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
LINT = ManualArgs(include_checks=["I"], regions=[REGION, "eu-west-1"])  # errors, warnings, infos

#: Where the queue function finds the credentials requests are authenticated
#: against (``Settings.credentials_secret`` and ``credentials_parameter``).
CREDENTIALS_ENV = {"BUCKETQ_CREDENTIALS_SECRET", "BUCKETQ_CREDENTIALS_PARAMETER"}
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bucketq/credentials-AbC123"
PARAMETER = "/bucketq/credentials"
SCENARIOS: dict[str, dict[str, str]] = {
    "no credentials": {},
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


def test_function_runs_the_lambda_entry_with_known_settings() -> None:
    function = load_template()["Resources"]["QueueFunction"]["Properties"]
    module, name = function["Handler"].rsplit(".", 1)
    assert module == "handlers" and callable(getattr(handlers, name))
    known = {f"BUCKETQ_{name.upper()}" for name in Settings.__dataclass_fields__}
    assert known >= CREDENTIALS_ENV  # the settings the credential loader reads
    assert set(function["Environment"]["Variables"]) <= known
    # the stack creates the bucket and the table: the function never does
    assert "BUCKETQ_CREATE_RESOURCES" not in function["Environment"]["Variables"]


def test_move_tasks_are_advanced_on_a_schedule() -> None:
    function = load_template()["Resources"]["MoveTaskFunction"]["Properties"]
    queue_function = load_template()["Resources"]["QueueFunction"]["Properties"]
    assert function["Handler"] == queue_function["Handler"]
    # the same storage settings; no credentials: it serves no requests
    queue_variables = queue_function["Environment"]["Variables"]
    expected = {k: v for k, v in queue_variables.items() if k not in CREDENTIALS_ENV}
    assert function["Environment"]["Variables"] == expected
    (event,) = function["Events"].values()
    assert event["Type"] == "Schedule" and event["Properties"]["Schedule"] == "rate(1 minute)"
    # the entry point steps tasks for less than the function may run
    assert function["Timeout"] >= SCHEDULED_RUN_SECONDS + MARGIN_SECONDS


# ---- linting and translation -------------------------------------------------------------


def test_cfn_lint_finds_nothing() -> None:
    assert [str(match) for match in lint_file(TEMPLATE, LINT)] == []


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
    template = load_template()
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":  # as `sam package` leaves it
            resource["Properties"]["CodeUri"] = "s3://bucketq-artifacts/bucketq.zip"
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
    for function in ("QueueFunction", "MoveTaskFunction"):
        assert types[function] == "AWS::Lambda::Function"
        role = translated["Resources"][function]["Properties"]["Role"]
        assert role == {"Fn::GetAtt": [f"{function}Role", "Arn"]}
        assert types[f"{function}Role"] == "AWS::IAM::Role"
    assert types["QueueApi"] == "AWS::ApiGatewayV2::Api"
    assert types["MoveTaskFunctionEveryMinute"] == "AWS::Events::Rule"


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
    template = deployed(translated, {})
    needed = storage_actions()
    for role in ("QueueFunctionRole", "MoveTaskFunctionRole"):
        granted = {a for a, _ in grants(template, role) if a.split(":")[0] in ("s3", "dynamodb")}
        assert granted == needed, role


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_grant_is_an_exact_action_on_a_resource_of_the_stack(
    translated: dict[str, Any], scenario: str
) -> None:
    template = deployed(translated, SCENARIOS[scenario])
    for role in ("QueueFunctionRole", "MoveTaskFunctionRole"):
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
    template = deployed(translated, {})
    queue = grants(template, "QueueFunctionRole")
    move = grants(template, "MoveTaskFunctionRole")
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
    template = deployed(translated, {})
    for role in ("QueueFunctionRole", "MoveTaskFunctionRole"):
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
    move = resources["MoveTaskFunction"]["Properties"]["Environment"]["Variables"]
    assert not CREDENTIALS_ENV & set(move)
    assert _credentials_statements(template, "MoveTaskFunctionRole") == {}


def test_credentials_permissions_are_what_the_reader_requests(translated: dict[str, Any]) -> None:
    reader = ROOT / "storage" / "aws_secrets.py"
    assert _operations_called(reader, "secretsmanager") == {"GetSecretValue"}
    assert _operations_called(reader, "ssm") == {"GetParameter"}
    for scenario, action in (("secret", "secretsmanager:"), ("parameter", "ssm:")):
        template = deployed(translated, SCENARIOS[scenario])
        granted = {a for a, _ in grants(template, "QueueFunctionRole") if a.startswith(action)}
        assert granted == {action + ("GetSecretValue" if scenario == "secret" else "GetParameter")}


def test_one_credentials_source_at_most() -> None:
    template = load_template()
    both = {"CredentialsSecretArn": SECRET_ARN, "CredentialsParameterName": PARAMETER}
    assert not conditions_for(template, both)["__rules__"]
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
    granted = grants(deployed(translated, {}), "MoveTaskFunctionRole")
    assert requests <= granted
