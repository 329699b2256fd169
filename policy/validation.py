"""Judge what actors and operators wrote: request and limit specs, field by field.

Pure. Turns the JSON of a `spec` into a typed value, or into a `FieldError` naming the
first field that is wrong and why, so that one bad object is rejected (or ignored) with
a reason while the rest of the plan goes on. Defaults for omitted limit fields live
here, and nowhere else.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from policy.model import (
    ActorState,
    JsonObject,
    LabelSelector,
    LabelSelectorRequirement,
    TargetType,
)
from policy.windows import Window, parse_clock, parse_day

INT32_MAX = 2**31 - 1
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
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


@attrs.frozen
class FieldError:
    """What is wrong with one object: the field's path and the problem."""

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


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


@attrs.frozen
class DrainSpec:
    timeout_seconds: int = 900
    grace_period_seconds: int = 0
    pod_grace_period_seconds: int | None = None
    delete_empty_dir_data: bool = False
    force: bool = False


@attrs.frozen
class InfraDrainSpec:
    wait_for_volume_detach: bool = True
    timeout_seconds: int = 300
    grace_period_seconds: int = 0


class NodePolicy:
    NOT_READY = "NotReady"
    UNSCHEDULABLE = "Unschedulable"
    ALL = (NOT_READY, UNSCHEDULABLE)


DEFAULT_APPROVED_TIMEOUT = 3600
DEFAULT_IN_PROGRESS_TIMEOUT = 86400
DEFAULT_TTL = 86400


@attrs.frozen
class LimitSpec:
    """A valid MaintenanceLimit, with defaults filled in."""

    name: str
    type: TargetType
    percent: int
    max_concurrent: int | None = None
    selector: LabelSelector | None = None
    policies: frozenset[str] = frozenset()
    cordon: bool = False
    drain: DrainSpec | None = None
    infra_drain: InfraDrainSpec | None = None
    approved_timeout_seconds: int = DEFAULT_APPROVED_TIMEOUT
    in_progress_timeout_seconds: int = DEFAULT_IN_PROGRESS_TIMEOUT
    min_interval_seconds: int = 0
    soak_seconds: int = 0
    windows: tuple[Window, ...] = ()
    ttl_seconds_after_finished: int = DEFAULT_TTL

    def governs(self, target_type: TargetType, labels: Mapping[str, str]) -> bool:
        if target_type is not self.type:
            return False
        return self.selector is None or self.selector.matches(labels)

    def allowed(self, population: int) -> int:
        """How many of `population` targets may be in use at once."""
        if self.percent == 0 or population == 0:
            allowed = 0
        else:
            allowed = max(1, self.percent * population // 100)
        if self.max_concurrent is not None:
            allowed = min(allowed, self.max_concurrent)
        return allowed

    def describe_allowed(self, population: int) -> str:
        text = f"{self.percent}% of {population}"
        if self.max_concurrent is not None:
            text += f", at most {self.max_concurrent}"
        return text


@attrs.frozen
class InvalidLimit:
    """A limit that cannot be used; it still blocks what it would govern, when known."""

    name: str
    error: FieldError
    type: TargetType | None = None
    selector: LabelSelector | None = None
    selector_known: bool = False

    def governs(self, target_type: TargetType, labels: Mapping[str, str]) -> bool:
        if self.type is None or target_type is not self.type:
            return False
        if not self.selector_known or self.selector is None:
            return True
        return self.selector.matches(labels)


class Invalid(Exception):
    """Raised inside this module to unwind to the object's boundary with a FieldError."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(field, problem)
        self.error = FieldError(field, problem)


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
    raw_type = _required_str(spec, "type", "spec.type")
    target_type = TARGET_TYPES.get(raw_type) or ORIGINAL_TARGET_TYPES.get(raw_type)
    if target_type is None:
        raise Invalid(
            "spec.type", f"{raw_type!r} is not one of {', '.join(t.value for t in TargetType)}"
        )
    name = _required_str(spec, "name", "spec.name")
    problem = _name_problem(target_type, name)
    if problem is not None:
        raise Invalid("spec.name", problem)
    raw_state = _optional(spec, "state", str, "spec.state", "a string") or "Pending"
    state = ACTOR_STATES.get(raw_state) or ORIGINAL_ACTOR_STATES.get(raw_state)
    if state is None:
        raise Invalid(
            "spec.state",
            f"{raw_state!r} is not one of {', '.join(s.value for s in ActorState)}",
        )
    requester = _optional(spec, "requester", str, "spec.requester", "a string") or ""
    if len(requester) > MAX_REQUESTER:
        raise Invalid("spec.requester", f"is {len(requester)} characters, at most {MAX_REQUESTER}")
    reason = _optional(spec, "reason", str, "spec.reason", "a string") or ""
    if len(reason) > MAX_REASON:
        raise Invalid("spec.reason", f"is {len(reason)} characters, at most {MAX_REASON}")
    priority = _int(spec, "priority", "spec.priority", default=0, minimum=-INT32_MAX)
    assert priority is not None
    return RequestSpec(Target(target_type, name), state, requester, reason, priority)


def _name_problem(target_type: TargetType, name: str) -> str | None:
    if target_type.namespaced:
        namespace, slash, workload = name.partition("/")
        if not slash:
            return f"{name!r} must be namespace/name for a {target_type.value}"
        if not _DNS_LABEL.match(namespace) or len(namespace) > 63:
            return f"namespace {namespace!r} is not a valid DNS label"
        name = workload
    if not name or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        return f"{name!r} is not a valid {target_type.value} name (DNS subdomain)"
    return None


# --- limits ---------------------------------------------------------------------------


def parse_limit_spec(name: str, spec: Any) -> LimitSpec | InvalidLimit:
    partial: dict[str, Any] = {}
    try:
        return _limit_spec(name, spec, partial)
    except Invalid as invalid:
        return InvalidLimit(
            name=name,
            error=invalid.error,
            type=partial.get("type"),
            selector=partial.get("selector"),
            selector_known="selector" in partial,
        )


def _limit_spec(name: str, spec: Any, partial: dict[str, Any]) -> LimitSpec:
    if not isinstance(spec, Mapping):
        raise Invalid("spec", f"must be an object, not {json_type(spec)}")
    raw_type = _optional(spec, "type", str, "spec.type", "a string")
    if raw_type:
        try:
            target_type = TargetType(raw_type)
        except ValueError:
            raise Invalid(
                "spec.type",
                f"{raw_type!r} is not one of {', '.join(t.value for t in TargetType)}",
            ) from None
    else:
        # The original repairman form: a limit named after the type it governs.
        try:
            target_type = TargetType(name)
        except ValueError:
            raise Invalid(
                "spec.type",
                f"is empty and the name {name!r} is not a type "
                f"({', '.join(t.value for t in TargetType)})",
            ) from None
    partial["type"] = target_type
    selector = _selector(spec.get("selector"), "spec.selector")
    partial["selector"] = selector

    percent = _int(spec, "limit", "spec.limit", default=None, maximum=100)
    max_concurrent = _int(spec, "maxConcurrent", "spec.maxConcurrent", default=None)
    if percent is None and max_concurrent is None:
        raise Invalid("spec.limit", "is required (or spec.maxConcurrent)")
    policies = _policies(spec.get("policies"), target_type)
    node_only = target_type is TargetType.NODE
    drain = _drain(spec.get("drain")) if node_only else None
    infra_drain = _infra_drain(spec.get("infraDrain")) if node_only else None
    cordon = _optional(spec, "cordon", bool, "spec.cordon", "true or false") or False
    windows = _windows(spec.get("windows"))
    return LimitSpec(
        name=name,
        type=target_type,
        percent=100 if percent is None else percent,
        max_concurrent=max_concurrent,
        selector=selector,
        policies=policies,
        # Draining a node that stays schedulable only moves pods back onto it.
        cordon=node_only and (cordon or drain is not None),
        drain=drain,
        infra_drain=infra_drain,
        approved_timeout_seconds=_positive(
            spec, "approvedTimeoutSeconds", DEFAULT_APPROVED_TIMEOUT, "spec"
        ),
        in_progress_timeout_seconds=_positive(
            spec, "inProgressTimeoutSeconds", DEFAULT_IN_PROGRESS_TIMEOUT, "spec"
        ),
        min_interval_seconds=_non_negative(spec, "minIntervalSeconds", 0, "spec"),
        soak_seconds=_non_negative(spec, "soakSeconds", 0, "spec"),
        windows=windows,
        ttl_seconds_after_finished=_non_negative(
            spec, "ttlSecondsAfterFinished", DEFAULT_TTL, "spec"
        ),
    )


def _policies(raw: Any, target_type: TargetType) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        raise Invalid("spec.policies", f"must be a list, not {json_type(raw)}")
    policies = set()
    for index, item in enumerate(raw):
        if item not in NodePolicy.ALL:
            raise Invalid(
                f"spec.policies[{index}]", f"{item!r} is not one of {', '.join(NodePolicy.ALL)}"
            )
        policies.add(item)
    return frozenset(policies) if target_type is TargetType.NODE else frozenset()


def _drain(raw: Any) -> DrainSpec | None:
    if raw is None:
        return None
    path = "spec.drain"
    if not isinstance(raw, Mapping):
        raise Invalid(path, f"must be an object, not {json_type(raw)}")
    return DrainSpec(
        timeout_seconds=_positive(raw, "timeoutSeconds", 900, path),
        grace_period_seconds=_non_negative(raw, "gracePeriodSeconds", 0, path),
        pod_grace_period_seconds=_int(
            raw, "podGracePeriodSeconds", f"{path}.podGracePeriodSeconds", default=None
        ),
        delete_empty_dir_data=_optional(
            raw, "deleteEmptyDirData", bool, f"{path}.deleteEmptyDirData", "true or false"
        )
        or False,
        force=_optional(raw, "force", bool, f"{path}.force", "true or false") or False,
    )


def _infra_drain(raw: Any) -> InfraDrainSpec | None:
    if raw is None:
        return None
    path = "spec.infraDrain"
    if not isinstance(raw, Mapping):
        raise Invalid(path, f"must be an object, not {json_type(raw)}")
    wait = _optional(
        raw, "waitForVolumeDetach", bool, f"{path}.waitForVolumeDetach", "true or false"
    )
    return InfraDrainSpec(
        wait_for_volume_detach=True if wait is None else wait,
        timeout_seconds=_positive(raw, "timeoutSeconds", 300, path),
        grace_period_seconds=_non_negative(raw, "gracePeriodSeconds", 0, path),
    )


def _windows(raw: Any) -> tuple[Window, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise Invalid("spec.windows", f"must be a list, not {json_type(raw)}")
    return tuple(_window(item, f"spec.windows[{index}]") for index, item in enumerate(raw))


def _window(raw: Any, path: str) -> Window:
    if not isinstance(raw, Mapping):
        raise Invalid(path, f"must be an object, not {json_type(raw)}")
    raw_days = raw.get("days")
    if raw_days is None:
        days = frozenset(range(7))
    else:
        if not isinstance(raw_days, list) or not raw_days:
            raise Invalid(f"{path}.days", "must be a non-empty list of Mon..Sun")
        parsed = set()
        for index, item in enumerate(raw_days):
            day = parse_day(item) if isinstance(item, str) else None
            if day is None:
                raise Invalid(f"{path}.days[{index}]", f"{item!r} is not a day (Mon..Sun)")
            parsed.add(day)
        days = frozenset(parsed)
    clocks = []
    for field in ("start", "end"):
        value = raw.get(field)
        minutes = parse_clock(value) if isinstance(value, str) else None
        if minutes is None:
            raise Invalid(f"{path}.{field}", f"{value!r} is not a time of day HH:MM")
        clocks.append(minutes)
    start, end = clocks
    if start == 24 * 60:
        raise Invalid(f"{path}.start", "24:00 cannot start a window")
    zone = raw.get("timeZone", "UTC")
    if not isinstance(zone, str) or not _zone_exists(zone):
        raise Invalid(f"{path}.timeZone", f"{zone!r} is not an IANA time zone")
    return Window(days=days, start=start, end=end, time_zone=zone)


def _zone_exists(name: str) -> bool:
    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a directory of the database ("America") or a name too long for a path.
        return False
    return True


def _selector(raw: Any, path: str) -> LabelSelector | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise Invalid(path, f"must be an object, not {json_type(raw)}")
    match_labels = raw.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise Invalid(f"{path}.matchLabels", f"must be an object, not {json_type(match_labels)}")
    for key, value in match_labels.items():
        if not isinstance(value, str) or not _LABEL_NAME.match(value) or len(value) > 63:
            raise Invalid(f"{path}.matchLabels[{key}]", f"{value!r} is not a label value")
    expressions = []
    raw_expressions = raw.get("matchExpressions") or []
    if not isinstance(raw_expressions, list):
        raise Invalid(f"{path}.matchExpressions", "must be a list")
    for index, item in enumerate(raw_expressions):
        item_path = f"{path}.matchExpressions[{index}]"
        if not isinstance(item, Mapping):
            raise Invalid(item_path, f"must be an object, not {json_type(item)}")
        key = item.get("key")
        if not isinstance(key, str) or not key:
            raise Invalid(f"{item_path}.key", "must be a non-empty string")
        operator = item.get("operator")
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise Invalid(
                f"{item_path}.operator", f"{operator!r} is not In, NotIn, Exists or DoesNotExist"
            )
        values = item.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise Invalid(f"{item_path}.values", "must be a list of strings")
        if operator in ("In", "NotIn") and not values:
            raise Invalid(f"{item_path}.values", f"must not be empty for {operator}")
        if operator in ("Exists", "DoesNotExist") and values:
            raise Invalid(f"{item_path}.values", f"must be empty for {operator}")
        expressions.append(LabelSelectorRequirement(key, operator, tuple(values)))
    return LabelSelector(dict(match_labels), tuple(expressions))


# --- field readers --------------------------------------------------------------------


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


def _required_str(obj: JsonObject, key: str, path: str) -> str:
    value = obj.get(key)
    if value is None or value == "":
        raise Invalid(path, "is required")
    if not isinstance(value, str):
        raise Invalid(path, f"must be a string, not {json_type(value)}")
    return value


def _optional(obj: JsonObject, key: str, kind: type, path: str, expected: str) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise Invalid(path, f"must be {expected}, not {json_type(value)}")
    return value


def _int(
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


def _non_negative(obj: JsonObject, key: str, default: int, parent: str) -> int:
    value = _int(obj, key, f"{parent}.{key}", default=default)
    assert value is not None
    return value


def _positive(obj: JsonObject, key: str, default: int, parent: str) -> int:
    value = _int(obj, key, f"{parent}.{key}", default=default, minimum=1)
    assert value is not None
    return value
