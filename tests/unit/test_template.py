"""template.yaml and the code agree: the table `--create-resources` makes, the
handler name and the settings the function is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import handlers
from handlers.lambda_entry import MARGIN_SECONDS, SCHEDULED_RUN_SECONDS
from handlers.settings import Settings
from storage.aws_resources import table_definition

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads !Ref, !Sub and friends as plain values: only the shape matters here."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}  # type: ignore[arg-type]


_CloudFormationLoader.add_multi_constructor("!", _any_tag)


def load_template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CloudFormationLoader)


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
    assert set(function["Environment"]["Variables"]) <= known


def test_move_tasks_are_advanced_on_a_schedule() -> None:
    function = load_template()["Resources"]["MoveTaskFunction"]["Properties"]
    queue_function = load_template()["Resources"]["QueueFunction"]["Properties"]
    assert function["Handler"] == queue_function["Handler"]
    assert function["Environment"] == queue_function["Environment"]
    (event,) = function["Events"].values()
    assert event["Type"] == "Schedule" and event["Properties"]["Schedule"] == "rate(1 minute)"
    # the entry point steps tasks for less than the function may run
    assert function["Timeout"] >= SCHEDULED_RUN_SECONDS + MARGIN_SECONDS
