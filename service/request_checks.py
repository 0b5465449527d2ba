"""Checks of request parameters that several actions share, with SQS's messages."""

from __future__ import annotations

from service.constants import (
    MAX_TAG_KEY_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    MAX_TAGS_PER_QUEUE,
    MAX_VISIBILITY_TIMEOUT,
)
from service.errors import InvalidParameterValue
from service.message_attributes import has_invalid_characters


def check_range(name: str, value: int | None, low: int, high: int, *, default: int) -> int:
    if value is None:
        return default
    if not low <= value <= high:
        raise InvalidParameterValue(
            f"Value {value} for parameter {name} is invalid. Reason: Must be between "
            f"{low} and {high}, if provided."
        )
    return value


def check_visibility(timeout: int) -> None:
    check_range("VisibilityTimeout", timeout, 0, MAX_VISIBILITY_TIMEOUT, default=0)


def validate_tags(tags: dict[str, str]) -> None:
    if len(tags) > MAX_TAGS_PER_QUEUE:
        raise InvalidParameterValue(
            f"Too many tags added for queue. Maximum is {MAX_TAGS_PER_QUEUE}."
        )
    for key, value in tags.items():
        too_long = not 1 <= len(key) <= MAX_TAG_KEY_LENGTH or len(value) > MAX_TAG_VALUE_LENGTH
        if too_long or has_invalid_characters(key) or has_invalid_characters(value):
            raise InvalidParameterValue(f"Tag {key} is invalid.")
