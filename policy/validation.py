"""Judge what actors wrote: a MaintenanceRequest's spec, field by field, and its target.

Pure. Turns the JSON of a request's `spec` into a `RequestSpec`, or into a `FieldError`
naming the first field that is wrong and why (policy.fields), so that one bad request is
rejected with a reason while the rest of the plan goes on. Limits are judged in
policy.limit_spec.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from policy.fields import (
    INT32_MAX,
    FieldError,
    Invalid,
    instant,
    integer,
    json_type,
    optional,
    required_str,
    shown,
)
from policy.model import ActorState, TargetType

MAX_REQUESTER = 253
MAX_REASON = 1024

# Enum lookups by value without the cost of Enum.__call__ (thousands per plan).
TARGET_TYPES = {t.value: t for t in TargetType}
ACTOR_STATES = {s.value: s for s in ActorState}
# The original repairman's spellings, accepted unchanged (docs/migration.md): its only
# type was "Node", and its operator wrote "Approved" into spec.state. Authority now
# lives in status, so an "Approved" spec is the actor still waiting: Pending.
ORIGINAL_TARGET_TYPES = {"Node": TargetType.NODE}
ORIGINAL_ACTOR_STATES = {"Approved": ActorState.PENDING}

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@attrs.frozen(cache_hash=True)
class Target:
    """What a request maintains: a node, or a namespaced workload."""

    type: TargetType
    name: str
    """Node name, or `namespace/name` for workloads."""

    @functools.cached_property
    def key(self) -> str:
        return f"{self.type.value}/{self.name}"

    @classmethod
    def from_key(cls, key: str) -> Target | None:
        return _target_from_key(key)


@functools.lru_cache(maxsize=1 << 16)
def _target_from_key(key: str) -> Target | None:
    """'node/worker-3' -> Target; every pass reads every request's status.target."""
    kind, _, name = key.partition("/")
    target_type = TARGET_TYPES.get(kind)
    if target_type is None:
        return None
    if _name_problem(target_type, name) is not None:
        return None
    return Target(target_type, name)


@attrs.frozen
class RequestSpec:
    target: Target
    state: ActorState
    requester: str
    reason: str
    priority: int
    not_before: datetime | None = None
    """Not admitted earlier (a maintenance the cloud announced for a later time)."""
    deadline: datetime | None = None
    """Admitted ahead of requests without one, earliest first within a priority; never
    past a limit."""


# --- requests -------------------------------------------------------------------------


def parse_request_spec(spec: Any) -> RequestSpec | FieldError:
    """The request's spec, validated. Every pass parses every request's spec, and most
    are the same from one pass to the next (the forecast plays hundreds of passes), so
    specs of plain scalar fields are parsed once: keyed by each value *and its type*,
    since 1, 1.0 and True are equal as keys but not as specs."""
    if isinstance(spec, Mapping):
        try:
            key = tuple((name, type(value), value) for name, value in spec.items())
            return _parse_scalar_spec(key)
        except TypeError:  # an unhashable value (a list, an object): not a cache key
            pass
    return _parse_request_spec(spec)


def clear_caches() -> None:
    """Forget the parsed specs and targets (benchmarks time a cold pass, as the runner's
    one process per pass has)."""
    _parse_scalar_spec.cache_clear()
    _target_from_key.cache_clear()


@functools.lru_cache(maxsize=1 << 16)
def _parse_scalar_spec(key: tuple[tuple[str, type, Any], ...]) -> RequestSpec | FieldError:
    return _parse_request_spec({name: value for name, _, value in key})


def _parse_request_spec(spec: Any) -> RequestSpec | FieldError:
    try:
        return _request_spec(spec)
    except Invalid as invalid:
        return invalid.error


def _request_spec(spec: Any) -> RequestSpec:
    if not isinstance(spec, Mapping):
        raise Invalid("spec", f"must be an object, not {json_type(spec)}")
    raw_type = required_str(spec, "type", "spec.type")
    target_type = TARGET_TYPES.get(raw_type) or ORIGINAL_TARGET_TYPES.get(raw_type)
    if target_type is None:
        raise Invalid(
            "spec.type", f"{shown(raw_type)} is not one of {', '.join(t.value for t in TargetType)}"
        )
    name = required_str(spec, "name", "spec.name")
    problem = _name_problem(target_type, name)
    if problem is not None:
        raise Invalid("spec.name", problem)
    raw_state = optional(spec, "state", str, "spec.state", "a string") or "Pending"
    state = ACTOR_STATES.get(raw_state) or ORIGINAL_ACTOR_STATES.get(raw_state)
    if state is None:
        raise Invalid(
            "spec.state",
            f"{shown(raw_state)} is not one of {', '.join(s.value for s in ActorState)}",
        )
    requester = optional(spec, "requester", str, "spec.requester", "a string") or ""
    if len(requester) > MAX_REQUESTER:
        raise Invalid("spec.requester", f"is {len(requester)} characters, at most {MAX_REQUESTER}")
    reason = optional(spec, "reason", str, "spec.reason", "a string") or ""
    if len(reason) > MAX_REASON:
        raise Invalid("spec.reason", f"is {len(reason)} characters, at most {MAX_REASON}")
    priority = integer(spec, "priority", "spec.priority", default=0, minimum=-INT32_MAX)
    assert priority is not None
    not_before = instant(spec, "notBefore", "spec.notBefore")
    deadline = instant(spec, "deadline", "spec.deadline")
    if not_before is not None and deadline is not None and deadline <= not_before:
        raise Invalid("spec.deadline", "is not after spec.notBefore")
    return RequestSpec(
        Target(target_type, name), state, requester, reason, priority, not_before, deadline
    )


def _name_problem(target_type: TargetType, name: str) -> str | None:
    if target_type.namespaced:
        namespace, slash, workload = name.partition("/")
        if not slash:
            return f"{shown(name)} must be namespace/name for a {target_type.value}"
        if not _DNS_LABEL.fullmatch(namespace) or len(namespace) > 63:
            return f"namespace {shown(namespace)} is not a valid DNS label"
        name = workload
    if not name or len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        return f"{shown(name)} is not a valid {target_type.value} name (DNS subdomain)"
    return None
