"""Judge what operators wrote: a MaintenanceLimit's spec, field by field, with defaults.

Pure. `parse_limit_spec` turns the JSON of a limit's spec into a `LimitSpec` with every
omitted field defaulted (here, and nowhere else: drain timeout 900 s, detach timeout
300 s, approval 1 h, work 24 h, TTL 24 h), or into an `InvalidLimit` naming the first
wrong field; an invalid limit still blocks the admissions it would govern (fail
closed). How several limits governing one target combine is policy.lifecycle's.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from policy.blackouts import MAX_REASON as MAX_BLACKOUT_REASON
from policy.blackouts import Blackout, local_instant
from policy.explain import span
from policy.fields import (
    FieldError,
    Invalid,
    instant,
    integer,
    json_type,
    non_negative,
    optional,
    positive,
    required_str,
    shown,
)
from policy.model import LabelSelector, LabelSelectorRequirement, TargetType
from policy.windows import Window, parse_clock, parse_day
from policy.zones import zone_problem

# Defaults of omitted fields, in seconds (the CRD's defaults say the same: a test).
DEFAULT_DRAIN_TIMEOUT = 900
DEFAULT_DETACH_TIMEOUT = 300
DEFAULT_APPROVED_TIMEOUT = 3600
DEFAULT_IN_PROGRESS_TIMEOUT = 86400
DEFAULT_TTL = 86400
DEFAULT_SKIP_WAIT_FOR_DELETE = 60

_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


DEFAULT_POD_GRACE = 30
"""A pod's terminationGracePeriodSeconds when its spec leaves it out (the API's default)."""


@attrs.frozen
class DrainSpec:
    timeout_seconds: int = DEFAULT_DRAIN_TIMEOUT
    grace_period_seconds: int = 0
    pod_grace_period_seconds: int | None = None
    """Overrides the pods' own grace period in evictions; None: the pod's own."""
    delete_empty_dir_data: bool = False
    force: bool = False
    skip_wait_for_delete_timeout_seconds: int = DEFAULT_SKIP_WAIT_FOR_DELETE
    """On a NotReady node, a pod still terminating this long after its deletionTimestamp
    (the deletion's start + its grace period) counts as gone: the kubelet that would
    finish it is gone (kubectl drain's --skip-wait-for-delete-timeout; 0 is never, as
    there)."""
    keeps_pod_grace: bool = False
    """Merged from several limits, one of which leaves the pods' own grace period: an
    override then only ever lengthens it (DESIGN §2: the longest wins)."""

    def grace_for(self, own: int | None) -> int | None:
        """The grace period to evict a pod with, whose own is `own`; None: the pod's own."""
        override = self.pod_grace_period_seconds
        if override is None:
            return None
        if self.keeps_pod_grace and override <= (DEFAULT_POD_GRACE if own is None else own):
            return None
        return override


@attrs.frozen
class InfraDrainSpec:
    wait_for_volume_detach: bool = True
    timeout_seconds: int = DEFAULT_DETACH_TIMEOUT
    grace_period_seconds: int = 0


class NodePolicy(enum.StrEnum):
    """`spec.policies`: which unavailable nodes use up a node limit by themselves."""

    NOT_READY = "NotReady"
    UNSCHEDULABLE = "Unschedulable"


NODE_POLICIES = {policy.value: policy for policy in NodePolicy}


@attrs.frozen
class Rate:
    """`spec.rate`: at most `count` admissions in any `per_seconds` (DESIGN §7)."""

    count: int
    per_seconds: int

    def describe(self) -> str:
        return f"at most {self.count} per {span(self.per_seconds)}"


@attrs.frozen
class FailureBudget:
    """`spec.failureBudget` (DESIGN §7): more than `max_unhealthy` nodes not Ready and
    schedulable `after_seconds` after their maintenance finished, within the last
    `within_seconds`, stop admissions until they recover or are acknowledged."""

    max_unhealthy: int
    after_seconds: int
    within_seconds: int
    acknowledged_at: datetime | None = None
    """Maintenance finished at or before this instant no longer counts."""


DEFAULT_GATE_TIMEOUT = 10
MAX_GATE_TIMEOUT = 20
"""A pass reads all its gates within 20 s (runner.gates): a longer one would never help."""
MAX_QUERY = 4096


@attrs.frozen
class PrometheusGate:
    """`gates.prometheus`: any series the instant query returns holds admissions."""

    url: str
    query: str
    timeout_seconds: int = DEFAULT_GATE_TIMEOUT


@attrs.frozen
class BlockingPodsGate:
    """`gates.blockingPods`: any running pod the selectors match holds admissions."""

    selector: LabelSelector
    namespace_selector: LabelSelector | None = None
    """None or empty: every namespace."""


@attrs.frozen
class Gates:
    prometheus: PrometheusGate | None = None
    blocking_pods: BlockingPodsGate | None = None

    def __bool__(self) -> bool:
        return self.prometheus is not None or self.blocking_pods is not None


@attrs.frozen
class LimitSpec:
    """A valid MaintenanceLimit, with defaults filled in."""

    name: str
    type: TargetType
    percent: int
    max_concurrent: int | None = None
    selector: LabelSelector | None = None
    policies: frozenset[NodePolicy] = frozenset()
    cordon: bool = False
    drain: DrainSpec | None = None
    infra_drain: InfraDrainSpec | None = None
    approved_timeout_seconds: int = DEFAULT_APPROVED_TIMEOUT
    in_progress_timeout_seconds: int = DEFAULT_IN_PROGRESS_TIMEOUT
    min_interval_seconds: int = 0
    soak_seconds: int = 0
    windows: tuple[Window, ...] = ()
    ttl_seconds_after_finished: int = DEFAULT_TTL
    paused: bool = False
    """Admits nothing new while true; what it admitted goes on (DESIGN §7)."""
    blackouts: tuple[Blackout, ...] = ()
    rate: Rate | None = None
    failure_budget: FailureBudget | None = None
    gates: Gates = Gates()
    node_conditions: bool = True
    """Publish the node lifecycle conditions (DESIGN §8) for the requests it governs."""

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
    node_conditions: bool = True
    """Its `nodeConditions`, when it could be read: an invalid limit that says false
    keeps saying it (a typo elsewhere must not publish what an operator turned off)."""

    def governs(self, target_type: TargetType, labels: Mapping[str, str]) -> bool:
        if self.type is None or target_type is not self.type:
            return False
        if not self.selector_known or self.selector is None:
            return True
        return self.selector.matches(labels)


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
            node_conditions=partial.get("node_conditions", True),
        )


def _limit_spec(name: str, spec: Any, partial: dict[str, Any]) -> LimitSpec:
    if not isinstance(spec, Mapping):
        raise Invalid("spec", f"must be an object, not {json_type(spec)}")
    # First: an operator's "off" holds whatever else of the limit is wrong.
    node_conditions = optional(spec, "nodeConditions", bool, "spec.nodeConditions", "true or false")
    partial["node_conditions"] = node_conditions is not False
    raw_type = optional(spec, "type", str, "spec.type", "a string")
    if raw_type:
        try:
            target_type = TargetType(raw_type)
        except ValueError:
            raise Invalid(
                "spec.type",
                f"{shown(raw_type)} is not one of {', '.join(t.value for t in TargetType)}",
            ) from None
    else:
        # The original repairman form: a limit named after the type it governs.
        try:
            target_type = TargetType(name)
        except ValueError:
            raise Invalid(
                "spec.type",
                f"is empty and the name {shown(name)} is not a type "
                f"({', '.join(t.value for t in TargetType)})",
            ) from None
    partial["type"] = target_type
    selector = _selector(spec.get("selector"), "spec.selector")
    partial["selector"] = selector

    percent = integer(spec, "limit", "spec.limit", default=None, maximum=100)
    max_concurrent = integer(spec, "maxConcurrent", "spec.maxConcurrent", default=None)
    if percent is None and max_concurrent is None:
        raise Invalid("spec.limit", "is required (or spec.maxConcurrent)")
    policies = _policies(spec.get("policies"), target_type)
    node_only = target_type is TargetType.NODE
    drain = _drain(spec.get("drain")) if node_only else None
    infra_drain = _infra_drain(spec.get("infraDrain")) if node_only else None
    cordon = optional(spec, "cordon", bool, "spec.cordon", "true or false") or False
    windows = _windows(spec.get("windows"))
    paused = optional(spec, "paused", bool, "spec.paused", "true or false") or False
    blackouts = _blackouts(spec.get("blackouts"))
    rate = _rate(spec.get("rate"))
    failure_budget = _failure_budget(spec.get("failureBudget"), target_type)
    gates = _gates(spec.get("gates"))
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
        approved_timeout_seconds=positive(
            spec, "approvedTimeoutSeconds", DEFAULT_APPROVED_TIMEOUT, "spec"
        ),
        in_progress_timeout_seconds=positive(
            spec, "inProgressTimeoutSeconds", DEFAULT_IN_PROGRESS_TIMEOUT, "spec"
        ),
        min_interval_seconds=non_negative(spec, "minIntervalSeconds", 0, "spec"),
        soak_seconds=non_negative(spec, "soakSeconds", 0, "spec"),
        windows=windows,
        ttl_seconds_after_finished=non_negative(
            spec, "ttlSecondsAfterFinished", DEFAULT_TTL, "spec"
        ),
        paused=paused,
        blackouts=blackouts,
        rate=rate,
        failure_budget=failure_budget,
        gates=gates,
        node_conditions=node_only and node_conditions is not False,
    )


def _policies(raw: Any, target_type: TargetType) -> frozenset[NodePolicy]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        raise Invalid("spec.policies", f"must be a list, not {json_type(raw)}")
    policies = set()
    for index, item in enumerate(raw):
        if not isinstance(item, str) or item not in NODE_POLICIES:
            raise Invalid(
                f"spec.policies[{index}]", f"{shown(item)} is not one of {', '.join(NodePolicy)}"
            )
        policies.add(NODE_POLICIES[item])
    return frozenset(policies) if target_type is TargetType.NODE else frozenset()


def _drain(raw: Any) -> DrainSpec | None:
    if raw is None:
        return None
    path = "spec.drain"
    if not isinstance(raw, Mapping):
        raise Invalid(path, f"must be an object, not {json_type(raw)}")
    return DrainSpec(
        timeout_seconds=positive(raw, "timeoutSeconds", DEFAULT_DRAIN_TIMEOUT, path),
        grace_period_seconds=non_negative(raw, "gracePeriodSeconds", 0, path),
        pod_grace_period_seconds=_pod_grace(raw, path),
        delete_empty_dir_data=optional(
            raw, "deleteEmptyDirData", bool, f"{path}.deleteEmptyDirData", "true or false"
        )
        or False,
        force=optional(raw, "force", bool, f"{path}.force", "true or false") or False,
        skip_wait_for_delete_timeout_seconds=non_negative(
            raw, "skipWaitForDeleteTimeoutSeconds", DEFAULT_SKIP_WAIT_FOR_DELETE, path
        ),
    )


def _pod_grace(raw: Mapping[str, Any], path: str) -> int | None:
    """`podGracePeriodSeconds`: -1 or absent is the pod's own, as kubectl drain's flag."""
    value = integer(
        raw, "podGracePeriodSeconds", f"{path}.podGracePeriodSeconds", default=None, minimum=-1
    )
    return None if value == -1 else value


def _infra_drain(raw: Any) -> InfraDrainSpec | None:
    if raw is None:
        return None
    path = "spec.infraDrain"
    if not isinstance(raw, Mapping):
        raise Invalid(path, f"must be an object, not {json_type(raw)}")
    wait = optional(
        raw, "waitForVolumeDetach", bool, f"{path}.waitForVolumeDetach", "true or false"
    )
    return InfraDrainSpec(
        wait_for_volume_detach=True if wait is None else wait,
        timeout_seconds=positive(raw, "timeoutSeconds", DEFAULT_DETACH_TIMEOUT, path),
        grace_period_seconds=non_negative(raw, "gracePeriodSeconds", 0, path),
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
                raise Invalid(f"{path}.days[{index}]", f"{shown(item)} is not a day (Mon..Sun)")
            parsed.add(day)
        days = frozenset(parsed)
    clocks = []
    for field in ("start", "end"):
        value = raw.get(field)
        minutes = parse_clock(value) if isinstance(value, str) else None
        if minutes is None:
            raise Invalid(f"{path}.{field}", f"{shown(value)} is not a time of day HH:MM")
        clocks.append(minutes)
    start, end = clocks
    if start == 24 * 60:
        raise Invalid(f"{path}.start", "24:00 cannot start a window")
    zone = raw.get("timeZone", "UTC")
    if not isinstance(zone, str):
        raise Invalid(f"{path}.timeZone", f"must be a string, not {json_type(zone)}")
    problem = zone_problem(zone)
    if problem is not None:
        raise Invalid(f"{path}.timeZone", problem)
    return Window(days=days, start=start, end=end, time_zone=zone)


def is_label_value(value: str) -> bool:
    """At most 63 characters, alphanumerics and '-', '_', '.' inside (or empty)."""
    return len(value) <= 63 and _LABEL_VALUE.fullmatch(value) is not None


def _rate(raw: Any) -> Rate | None:
    if raw is None:
        return None
    path = "spec.rate"
    if not isinstance(raw, Mapping):
        raise Invalid(path, f"must be an object, not {json_type(raw)}")
    count = integer(raw, "count", f"{path}.count", default=None, minimum=1)
    per = integer(raw, "perSeconds", f"{path}.perSeconds", default=None, minimum=1)
    if count is None:
        raise Invalid(f"{path}.count", "is required")
    if per is None:
        raise Invalid(f"{path}.perSeconds", "is required")
    return Rate(count, per)


def _failure_budget(raw: Any, target_type: TargetType) -> FailureBudget | None:
    if raw is None:
        return None
    path = "spec.failureBudget"
    if not isinstance(raw, Mapping):
        raise Invalid(path, f"must be an object, not {json_type(raw)}")
    if target_type is not TargetType.NODE:
        # It judges nodes' health: on a workload limit it would silently do nothing.
        raise Invalid(path, f"applies to node limits only, not {target_type.value}")
    most = integer(raw, "maxUnhealthy", f"{path}.maxUnhealthy", default=None)
    if most is None:
        raise Invalid(f"{path}.maxUnhealthy", "is required")
    after = non_negative(raw, "afterSeconds", 600, path)
    within = positive(raw, "withinSeconds", 86400, path)
    if within <= after:
        raise Invalid(
            f"{path}.withinSeconds",
            f"{within} is not more than afterSeconds ({after}): nothing would ever count",
        )
    return FailureBudget(
        max_unhealthy=most,
        after_seconds=after,
        within_seconds=within,
        acknowledged_at=instant(raw, "acknowledgedAt", f"{path}.acknowledgedAt"),
    )


def _gates(raw: Any) -> Gates:
    if raw is None:
        return Gates()
    path = "spec.gates"
    if not isinstance(raw, Mapping):
        raise Invalid(path, f"must be an object, not {json_type(raw)}")
    return Gates(
        prometheus=_prometheus(raw.get("prometheus"), f"{path}.prometheus"),
        blocking_pods=_blocking_pods(raw.get("blockingPods"), f"{path}.blockingPods"),
    )


def _prometheus(raw: Any, path: str) -> PrometheusGate | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise Invalid(path, f"must be an object, not {json_type(raw)}")
    url = required_str(raw, "url", f"{path}.url")
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url) or not _sound_url(url):
        raise Invalid(f"{path}.url", f"{shown(url)} is not an http:// or https:// URL")
    query = required_str(raw, "query", f"{path}.query")
    if not query.strip():
        raise Invalid(f"{path}.query", "is empty")
    if len(query) > MAX_QUERY:
        raise Invalid(f"{path}.query", f"is {len(query)} characters, at most {MAX_QUERY}")
    timeout = integer(
        raw,
        "timeoutSeconds",
        f"{path}.timeoutSeconds",
        default=DEFAULT_GATE_TIMEOUT,
        minimum=1,
        maximum=MAX_GATE_TIMEOUT,
    )
    assert timeout is not None
    return PrometheusGate(url=url.rstrip("/"), query=query, timeout_seconds=timeout)


def _sound_url(url: str) -> bool:
    """A host of DNS labels (or an IP literal) and a numeric port: what the HTTP client
    can open, so that a typo is the limit's error here, not the runner's every pass."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises on a port that is not a number in 0..65535
    except ValueError:
        return False
    host = parts.hostname or ""
    if port == 0 or not host:
        return False
    if host.startswith("[") or ":" in host:
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        return True
    return all(
        re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_]{0,61}[A-Za-z0-9])?", label)
        for label in host.split(".")
    )


def _blocking_pods(raw: Any, path: str) -> BlockingPodsGate | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise Invalid(path, f"must be an object, not {json_type(raw)}")
    selector = _selector(raw.get("selector"), f"{path}.selector")
    if selector is None or (not selector.match_labels and not selector.match_expressions):
        # An empty selector would make every pod of the cluster a blocker.
        raise Invalid(f"{path}.selector", "is required and must not be empty")
    namespaces = _selector(raw.get("namespaceSelector"), f"{path}.namespaceSelector")
    return BlockingPodsGate(selector=selector, namespace_selector=namespaces)


def _blackouts(raw: Any) -> tuple[Blackout, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise Invalid("spec.blackouts", f"must be a list, not {json_type(raw)}")
    return tuple(_blackout(item, f"spec.blackouts[{index}]") for index, item in enumerate(raw))


def _blackout(raw: Any, path: str) -> Blackout:
    if not isinstance(raw, Mapping):
        raise Invalid(path, f"must be an object, not {json_type(raw)}")
    time_zone = raw.get("timeZone", "UTC")
    if not isinstance(time_zone, str):
        raise Invalid(f"{path}.timeZone", f"must be a string, not {json_type(time_zone)}")
    problem = zone_problem(time_zone)
    if problem is not None:
        raise Invalid(f"{path}.timeZone", problem)
    instants = []
    for field in ("start", "end"):
        value = raw.get(field)
        instant = local_instant(value, time_zone) if isinstance(value, str) else None
        if instant is None:
            raise Invalid(
                f"{path}.{field}",
                f"{shown(value)} is not a local time YYYY-MM-DDTHH:MM (years 1970..8999)",
            )
        instants.append(instant)
    start, end = instants
    # Judged on the clock, as the CRD does: one that starts in the hour a DST change
    # skips may end before it starts in time, and then covers nothing.
    if raw["end"] <= raw["start"]:
        raise Invalid(f"{path}.end", f"{raw['end']} is not after the start {raw['start']}")
    reason = optional(raw, "reason", str, f"{path}.reason", "a string") or ""
    if len(reason) > MAX_BLACKOUT_REASON:
        raise Invalid(
            f"{path}.reason", f"is {len(reason)} characters, at most {MAX_BLACKOUT_REASON}"
        )
    return Blackout(start, end, raw["start"], raw["end"], time_zone, reason)


def _selector(raw: Any, path: str) -> LabelSelector | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise Invalid(path, f"must be an object, not {json_type(raw)}")
    match_labels = raw.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise Invalid(f"{path}.matchLabels", f"must be an object, not {json_type(match_labels)}")
    for key, value in match_labels.items():
        if not isinstance(value, str) or not is_label_value(value):
            raise Invalid(f"{path}.matchLabels[{key[:63]}]", f"{shown(value)} is not a label value")
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
                f"{item_path}.operator",
                f"{shown(operator)} is not In, NotIn, Exists or DoesNotExist",
            )
        values = item.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise Invalid(f"{item_path}.values", "must be a list of strings")
        for value_index, value in enumerate(values):
            if not is_label_value(value):
                raise Invalid(
                    f"{item_path}.values[{value_index}]", f"{shown(value)} is not a label value"
                )
        if operator in ("In", "NotIn") and not values:
            raise Invalid(f"{item_path}.values", f"must not be empty for {operator}")
        if operator in ("Exists", "DoesNotExist") and values:
            raise Invalid(f"{item_path}.values", f"must be empty for {operator}")
        expressions.append(LabelSelectorRequirement(key, operator, tuple(values)))
    return LabelSelector(dict(match_labels), tuple(expressions))
