"""Reading JSON fields written by people: the first wrong field, named, and why.

Pure. `Invalid` unwinds a parser to the object's boundary, where it becomes a
`FieldError` ("spec.drain.timeoutSeconds: -1 is outside 1..2147483647"), so one bad
object is rejected or ignored with a reason while the rest of the plan goes on. Used by
policy.validation (requests), policy.limit_spec (limits) and policy.snapshot_format.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import attrs

from policy.model import JsonObject
from policy.times import plannable

INT32_MAX = 2**31 - 1


@attrs.frozen
class FieldError:
    """What is wrong with one object: the field's path and the problem."""

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


class Invalid(Exception):
    """Raised inside a parser to unwind to the object's boundary with a FieldError."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(field, problem)
        self.error = FieldError(field, problem)


SHOWN_LENGTH = 48


def shown(value: Any) -> str:
    """A value written by someone, quoted for an error message and cut short: a
    10,000-character typo would otherwise be copied into every message it causes."""
    text = repr(value)
    if len(text) <= SHOWN_LENGTH:
        return text
    size = len(value) if isinstance(value, str) else len(text)
    return f"{text[: SHOWN_LENGTH - 1]}… ({size} characters)"


def json_type(value: Any) -> str:
    """How an error names a JSON value's type: 'a string', 'null', 'an object'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def required_str(obj: JsonObject, key: str, path: str) -> str:
    value = obj.get(key)
    if value is None or value == "":
        raise Invalid(path, "is required")
    if not isinstance(value, str):
        raise Invalid(path, f"must be a string, not {json_type(value)}")
    return value


def optional(obj: JsonObject, key: str, kind: type, path: str, expected: str) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise Invalid(path, f"must be {expected}, not {json_type(value)}")
    return value


def integer(
    obj: JsonObject,
    key: str,
    path: str,
    *,
    default: int | None,
    minimum: int = 0,
    maximum: int = INT32_MAX,
) -> int | None:
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Invalid(path, f"must be an integer, not {json_type(value)}")
    if not minimum <= value <= maximum:
        raise Invalid(path, f"{value} is outside {minimum}..{maximum}")
    return value


def non_negative(obj: JsonObject, key: str, default: int, parent: str) -> int:
    value = integer(obj, key, f"{parent}.{key}", default=default)
    assert value is not None
    return value


def positive(obj: JsonObject, key: str, default: int, parent: str) -> int:
    value = integer(obj, key, f"{parent}.{key}", default=default, minimum=1)
    assert value is not None
    return value


_RFC3339 = re.compile(
    r"(19[7-9][0-9]|[2-8][0-9]{3})-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)
"""The CRDs' pattern for the instants people write (notBefore, deadline, acknowledgedAt)."""


def instant(obj: JsonObject, key: str, path: str) -> datetime | None:
    """An RFC 3339 time with its offset (`2026-12-20T02:00:00Z`), years 1970..8999."""
    raw = optional(obj, key, str, path, "an RFC 3339 time")
    if raw is None:
        return None
    if not _RFC3339.fullmatch(raw):
        raise Invalid(
            path,
            f"{shown(raw)} is not an RFC 3339 time with its offset, years 1970..8999 "
            "(e.g. 2026-12-20T02:00:00Z)",
        )
    try:
        when = datetime.fromisoformat(raw).astimezone(UTC)
    except ValueError:
        raise Invalid(path, f"{shown(raw)} is not a real time") from None
    if not plannable(when):
        raise Invalid(path, f"{shown(raw)} is outside the years 1970..8999")
    return when
