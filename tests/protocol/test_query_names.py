"""The Query name overlay: derived from the legacy model, complete for the current one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from handlers.query_names import (
    INFERRED_TRAITS,
    LEGACY_TRAITS,
    infer_element_name,
    query_service_model,
)
from handlers.sqs_model import SERVICE_DESCRIPTION, SERVICE_MODEL

# The last Query-era model ships in any botocore before 1.31.64.
LEGACY_BOTOCORE = "botocore==1.29.0"
LEGACY_MEMBER = "botocore/data/sqs/2012-11-05/service-2.json"
TRAITS = ("locationName", "flattened", "queryName")


def _ref_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {k: old[k] for k in TRAITS if k in old and new.get(k) != old[k]}


def legacy_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The script that generated LEGACY_TRAITS: Query traits the new model lacks."""
    out: dict[str, Any] = {}
    for name, old_shape in old["shapes"].items():
        new_shape = new["shapes"].get(name)
        if new_shape is None:
            continue
        entry = {
            k: old_shape[k] for k in TRAITS if k in old_shape and new_shape.get(k) != old_shape[k]
        }
        for part in ("member", "key", "value"):
            if part in old_shape and (diff := _ref_diff(old_shape[part], new_shape[part])):
                entry[part] = diff
        members = {
            m: diff
            for m, ref in old_shape.get("members", {}).items()
            if m in new_shape.get("members", {})
            and (diff := _ref_diff(ref, new_shape["members"][m]))
        }
        if members:
            entry["members"] = members
        if entry:
            out[name] = entry
    return out


@pytest.fixture(scope="module")
def legacy_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The legacy botocore wheel, fetched by pip from the configured index
    (or taken from BUCKETQ_LEGACY_BOTOCORE_WHEEL when offline)."""
    given = os.environ.get("BUCKETQ_LEGACY_BOTOCORE_WHEEL")
    if given:
        return Path(given)
    target = tmp_path_factory.mktemp("legacy-botocore")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            LEGACY_BOTOCORE,
            "-d",
            str(target),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = target.glob("botocore-*.whl")
    return wheel


def test_legacy_table_is_the_diff_of_the_two_models(legacy_wheel: Path) -> None:
    with zipfile.ZipFile(legacy_wheel) as wheel:
        legacy = json.loads(wheel.read(LEGACY_MEMBER))
    assert legacy["metadata"]["protocol"] == "query"
    assert legacy_diff(legacy, SERVICE_DESCRIPTION) == LEGACY_TRAITS


def _flattened_list_members(model: Any) -> list[tuple[str, str, Any]]:
    found = []
    for shape_name in model.shape_names:
        shape = model.shape_for(shape_name)
        if shape.type_name != "structure":
            continue
        for member_name, member in shape.members.items():
            if member.type_name == "list" and member.serialization.get("flattened"):
                found.append((shape_name, member_name, member))
    return found


def test_inferred_names_follow_the_rule() -> None:
    inferred = {}
    for _, member_name, member in _flattened_list_members(SERVICE_MODEL):
        if member.member.name in ("MessageSystemAttributeName", "ListMessageMoveTasksResultEntry"):
            inferred[member.name] = {
                "member": {
                    "locationName": infer_element_name(
                        member_name, member.member.name, member.member.type_name
                    )
                }
            }
    assert inferred == INFERRED_TRAITS


def test_rule_reproduces_the_legacy_names_but_two() -> None:
    exceptions = set()
    model = query_service_model()
    for shape_name, member_name, member in _flattened_list_members(model):
        if member.name in INFERRED_TRAITS:
            continue
        actual = member.member.serialization["name"]
        if infer_element_name(member_name, member.member.name, member.member.type_name) != actual:
            exceptions.add((shape_name, member_name, actual))
    assert exceptions == {
        ("AddPermissionRequest", "Actions", "ActionName"),
        ("ListDeadLetterSourceQueuesResult", "queueUrls", "QueueUrl"),
    }


def test_every_flattened_list_and_map_has_query_names() -> None:
    model = query_service_model()
    for shape_name in model.shape_names:
        shape = model.shape_for(shape_name)
        if shape.type_name == "list" and shape.serialization.get("flattened"):
            assert "name" in shape.member.serialization, shape_name
        if shape.type_name == "map":
            assert "name" in shape.key.serialization, shape_name
            assert "name" in shape.value.serialization, shape_name
    for _, _, member in _flattened_list_members(model):
        assert "name" in member.member.serialization


def test_query_model_metadata_and_result_wrappers() -> None:
    model = query_service_model()
    assert model.protocol == "query"
    assert model.metadata["xmlNamespace"] == "http://queue.amazonaws.com/doc/2012-11-05/"
    for name in model.operation_names:
        op = model.operation_model(name)
        if op.output_shape is not None:
            assert op.output_shape.serialization["resultWrapper"] == f"{name}Result"
    # the current model itself is untouched
    assert SERVICE_MODEL.protocol == "json"
    assert "locationName" not in SERVICE_DESCRIPTION["shapes"]["QueueUrlList"]["member"]


def test_modelled_errors_carry_their_query_codes() -> None:
    shapes = query_service_model()
    assert shapes.shape_for("QueueDoesNotExist").metadata["error"]["code"] == (
        "AWS.SimpleQueueService.NonExistentQueue"
    )
    assert shapes.shape_for("QueueNameExists").metadata["error"]["code"] == "QueueAlreadyExists"
