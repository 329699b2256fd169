"""Hypothesis strategies for snapshots: small clusters where everything collides.

Few nodes, two zones, three apps, so that limits fill up, PDBs are shared across
candidate nodes, targets are requested twice, and cordon annotations point at live,
finished and vanished requests. Limits and requests are mostly valid, sometimes carry
one malformed field, and sometimes are arbitrary JSON. Request statuses are generated
consistently with their state (an InProgress request was approved and started), and at
most one active request holds a target, as the policy guarantees.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from hypothesis import strategies as st

from policy.model import (
    CORDONED_BY,
    GateKind,
    GateReading,
    LabelSelector,
    LabelSelectorRequirement,
    LimitStatus,
    MaintenanceLimit,
    MaintenanceRequest,
    Node,
    NodeCondition,
    Pod,
    PodDisruptionBudget,
    RequestState,
    RequestStatus,
    Snapshot,
    TargetType,
    VolumeAttachment,
    Workload,
)
from policy.node_conditions import TYPES as LIFECYCLE

ZONES = ("a", "b")
APPS = ("web", "db", "cache")
REQUEST_NAMES = tuple(f"mr-{i}" for i in range(8))
S = RequestState

instants = st.datetimes(
    # Naive bounds are how Hypothesis takes them; every drawn instant is in UTC.
    min_value=datetime(2026, 1, 1),  # noqa: DTZ001
    max_value=datetime(2027, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
whole_seconds = instants.map(lambda t: t.replace(microsecond=0))
ages = st.integers(min_value=0, max_value=3 * 86400).map(lambda s: timedelta(seconds=s))
short_ages = st.sampled_from([0, 1, 10, 30, 59, 60, 299, 300, 601, 900, 3600, 7200]).map(
    lambda s: timedelta(seconds=s)
)
label_values = st.text(alphabet="abcxyz-", min_size=0, max_size=4)
json_scalars = st.none() | st.booleans() | st.integers(-(2**33), 2**33) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def nodes(draw: st.DrawFn, now: datetime) -> tuple[Node, ...]:
    count = draw(st.integers(min_value=1, max_value=6))
    result = []
    for index in range(count):
        unschedulable = draw(st.integers(0, 4)) == 0
        annotations = {}
        if draw(st.integers(0, 3)) == 0 or (unschedulable and draw(st.booleans())):
            annotations[CORDONED_BY] = draw(st.sampled_from((*REQUEST_NAMES, "mr-vanished")))
        result.append(
            Node(
                name=f"n{index}",
                labels={"zone": draw(st.sampled_from(ZONES))},
                annotations=annotations,
                unschedulable=unschedulable,
                ready=draw(st.integers(0, 6)) > 0,
                ready_since=draw(st.none() | short_ages.map(lambda d: now - d)),
                conditions=tuple(draw(lifecycle_conditions)),
            )
        )
    return tuple(result)


lifecycle_conditions = st.lists(
    st.builds(
        NodeCondition,
        type=st.sampled_from(LIFECYCLE),
        status=st.sampled_from(["True", "False", "Unknown"]),
        reason=st.sampled_from(["RepairmanPreparing", "RepairmanCompleted", "AdminSaid", ""]),
        message=st.sampled_from(["", "repairman: mr-a is draining the node", "by hand"]),
    ),
    max_size=2,
    unique_by=lambda condition: condition.type,
)
"""Some of a node's lifecycle conditions (DESIGN §8), ours or someone else's."""


@st.composite
def pods(draw: st.DrawFn, now: datetime, node_names: list[str]) -> tuple[Pod, ...]:
    result = []
    for node in node_names:
        for index in range(draw(st.integers(0, 3))):
            app = draw(st.sampled_from(APPS))
            owner = draw(
                st.sampled_from(
                    ["ReplicaSet", "ReplicaSet", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"]
                    + [None] * draw(st.integers(0, 1))
                )
            )
            result.append(
                Pod(
                    namespace="ns",
                    name=f"{app}-{node}-{index}",
                    uid=f"uid-{app}-{node}-{index}",
                    node=node,
                    labels={"app": app},
                    owner_kind=owner,
                    owner_name=None if owner is None else app,
                    mirror=draw(st.integers(0, 9)) == 0,
                    phase=draw(
                        st.sampled_from(
                            ["Running", "Running", "Running", "Pending", "Succeeded", "Failed"]
                        )
                    ),
                    deletion_timestamp=now - timedelta(seconds=draw(st.integers(0, 600)))
                    if draw(st.integers(0, 5)) == 0
                    else None,
                    empty_dir=draw(st.integers(0, 7)) == 0,
                    ready=draw(st.integers(0, 4)) > 0,
                    termination_grace_period_seconds=draw(st.none() | st.integers(0, 60)),
                )
            )
    return tuple(result)


@st.composite
def selectors(draw: st.DrawFn) -> LabelSelector:
    if draw(st.booleans()):
        return LabelSelector({"app": draw(st.sampled_from(APPS))})
    operator = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
    values = (
        tuple(draw(st.lists(st.sampled_from(APPS), min_size=1, max_size=2)))
        if operator in ("In", "NotIn")
        else ()
    )
    return LabelSelector({}, (LabelSelectorRequirement("app", operator, values),))


@st.composite
def pdbs(draw: st.DrawFn) -> tuple[PodDisruptionBudget, ...]:
    result = []
    for index in range(draw(st.integers(0, 3))):
        generation = draw(st.integers(1, 3))
        result.append(
            PodDisruptionBudget(
                namespace="ns",
                name=f"pdb-{index}",
                selector=draw(st.none() | selectors())
                if draw(st.integers(0, 5)) == 0
                else draw(selectors()),
                disruptions_allowed=draw(st.integers(0, 2)),
                generation=generation,
                observed_generation=draw(st.none() | st.integers(generation - 1, generation)),
                current_healthy=draw(st.integers(0, 5)),
                desired_healthy=draw(st.integers(0, 5)),
                expected_pods=draw(st.integers(0, 5)),
                unhealthy_pod_eviction_policy=draw(
                    st.sampled_from([None, None, "IfHealthyBudget", "AlwaysAllow"])
                ),
            )
        )
    return tuple(result)


def window_specs() -> st.SearchStrategy[dict[str, Any]]:
    clock = st.sampled_from(["00:00", "01:00", "05:30", "12:00", "22:00", "23:59", "24:00"])
    return st.fixed_dictionaries(
        {"start": clock.filter(lambda c: c != "24:00"), "end": clock},
        optional={
            "days": st.lists(
                st.sampled_from(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
                min_size=1,
                max_size=3,
            ),
            "timeZone": st.sampled_from(
                ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "America", "Mars/X"]
            ),
        },
    )


def blackout_specs(now: datetime | None) -> st.SearchStrategy[dict[str, Any]]:
    """A blackout around `now` (starting up to 3 h before or after it, lasting up to
    6 h), in a zone where the clock reading differs from UTC, or none that exists."""
    base = now or datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def local(offset: timedelta, zone_name: str) -> str:
        zone = ZoneInfo(zone_name if zone_name != "Mars/X" else "UTC")
        return (base + offset).astimezone(zone).strftime("%Y-%m-%dT%H:%M")

    @st.composite
    def one(draw: st.DrawFn) -> dict[str, Any]:
        zone_name = draw(st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "Mars/X"]))
        start = timedelta(minutes=draw(st.integers(-180, 180)))
        length = timedelta(minutes=draw(st.integers(1, 360)))
        blackout = {
            "start": local(start, zone_name),
            "end": local(start + length, zone_name),
            "timeZone": zone_name,
        }
        if draw(st.booleans()):
            blackout["reason"] = draw(st.sampled_from(["year-end freeze", "launch", ""]))
        return blackout

    return one()


@st.composite
def limit_specs(draw: st.DrawFn, name: str, chaos: bool = True, now: datetime | None = None) -> Any:
    if chaos and draw(st.integers(0, 30)) == 0:
        return draw(json_values)
    target_type = "deployment" if name == "deployment" else "node"
    spec: dict[str, Any] = {}
    if name != target_type or draw(st.booleans()):
        spec["type"] = target_type
    spec["limit"] = draw(st.sampled_from([0, 10, 25, 34, 50, 50, 100, 100]))
    optional = {
        "maxConcurrent": st.integers(0, 3),
        "selector": st.sampled_from(ZONES).map(lambda z: {"matchLabels": {"zone": z}}),
        "policies": st.lists(st.sampled_from(["NotReady", "Unschedulable"]), unique=True),
        "cordon": st.booleans(),
        "drain": st.fixed_dictionaries(
            {},
            optional={
                "timeoutSeconds": st.sampled_from([60, 600]),
                "gracePeriodSeconds": st.sampled_from([0, 30]),
                "podGracePeriodSeconds": st.integers(-1, 30),
                "deleteEmptyDirData": st.booleans(),
                "force": st.booleans(),
                "skipWaitForDeleteTimeoutSeconds": st.sampled_from([0, 60, 300]),
            },
        ),
        "infraDrain": st.fixed_dictionaries(
            {},
            optional={
                "waitForVolumeDetach": st.booleans(),
                "timeoutSeconds": st.sampled_from([60, 300]),
                "gracePeriodSeconds": st.sampled_from([0, 10]),
            },
        ),
        "approvedTimeoutSeconds": st.sampled_from([60, 600]),
        "inProgressTimeoutSeconds": st.sampled_from([300, 7200]),
        "minIntervalSeconds": st.sampled_from([0, 60, 600]),
        "soakSeconds": st.sampled_from([0, 60, 600]),
        "windows": st.lists(window_specs(), min_size=1, max_size=2),
        "ttlSecondsAfterFinished": st.sampled_from([0, 60, 86400]),
        "paused": st.booleans(),
        "blackouts": st.lists(blackout_specs(now), min_size=1, max_size=2),
        "rate": st.fixed_dictionaries(
            {"count": st.integers(1, 3), "perSeconds": st.sampled_from([60, 600, 3600])}
        ),
        "gates": st.sampled_from(
            [
                {"prometheus": {"url": "http://prometheus:9090", "query": "ALERTS"}},
                {"blockingPods": {"selector": {"matchLabels": {"app": "backup"}}}},
                {
                    "prometheus": {"url": "http://prometheus:9090", "query": "ALERTS"},
                    "blockingPods": {"selector": {"matchLabels": {"app": "backup"}}},
                },
            ]
        ),
        "failureBudget": st.fixed_dictionaries(
            {
                "maxUnhealthy": st.integers(0, 2),
                "afterSeconds": st.sampled_from([0, 60, 600]),
                "withinSeconds": st.sampled_from([3600, 86400]),
            },
            optional={
                "acknowledgedAt": short_ages.map(
                    lambda d: ((now or datetime(2026, 11, 25, tzinfo=UTC)) - d).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    )
                )
            },
        ),
    }
    odds = {
        "windows": 6,
        "minIntervalSeconds": 4,
        "soakSeconds": 4,
        "maxConcurrent": 4,
        "drain": 1,
        "paused": 6,
        "blackouts": 6,
        "rate": 3,
        "failureBudget": 2 if target_type == "node" else 40,
        "gates": 3,
    }
    for key, strategy in optional.items():
        if draw(st.integers(0, odds.get(key, 2))) == 0:
            spec[key] = draw(strategy)
    if chaos and draw(st.integers(0, 15)) == 0:
        # One malformed field.
        key = draw(st.sampled_from([*sorted(optional), "limit", "type"]))
        spec[key] = draw(json_values)
    return spec


@st.composite
def limits(draw: st.DrawFn, now: datetime, chaos: bool = True) -> tuple[MaintenanceLimit, ...]:
    names = draw(
        st.lists(
            st.sampled_from(["node", "zone-a", "zone-b", "deployment", "weekend"]),
            min_size=0 if chaos and draw(st.integers(0, 10)) == 0 else 1,
            max_size=3,
            unique=True,
        )
    )
    return tuple(
        MaintenanceLimit(
            name=name,
            uid=f"uid-{name}",
            spec=draw(limit_specs(name, chaos, now)),
            status=LimitStatus(
                last_admission_at=draw(st.none() | short_ages.map(lambda d: now - d)),
                admissions=tuple(
                    sorted(
                        draw(
                            st.sets(
                                st.tuples(
                                    st.sampled_from(["mr-gone-1", "mr-gone-2", "mr-0"]),
                                    short_ages.map(lambda d: now - d),
                                ),
                                max_size=2,
                            )
                        )
                    )
                ),
                finishes=tuple(
                    sorted(
                        draw(
                            st.sets(
                                st.tuples(
                                    st.sampled_from(["mr-gone-1", "mr-gone-2", "mr-0"]),
                                    st.sampled_from(["n0", "n1", "n2"]),
                                    short_ages.map(lambda d: now - d),
                                ),
                                max_size=2,
                            )
                        )
                    )
                ),
                at_work=tuple(
                    sorted(
                        draw(
                            st.sets(
                                st.tuples(
                                    st.sampled_from(["mr-gone-1", "mr-0", "mr-1"]),
                                    st.sampled_from(["n0", "n1", "n2"]),
                                ),
                                max_size=2,
                            )
                        )
                    )
                ),
                unhealthy=tuple(
                    sorted(
                        draw(
                            st.sets(
                                st.tuples(
                                    st.sampled_from(["mr-gone-1", "mr-0"]),
                                    st.sampled_from(["n0", "n1", "n2"]),
                                    short_ages.map(lambda d: now - d),
                                ),
                                max_size=1,
                            )
                        )
                    )
                ),
            ),
        )
        for name in names
    )


@st.composite
def request_specs(
    draw: st.DrawFn, node_names: list[str], chaos: bool = True, now: datetime | None = None
) -> Any:
    if chaos and draw(st.integers(0, 25)) == 0:
        return draw(json_values)
    kind = draw(st.sampled_from(["node", "node", "node", "node", "deployment"]))
    if kind == "node":
        name = draw(st.sampled_from([*node_names, *node_names, *node_names, "ghost"]))
    else:
        name = draw(st.sampled_from(["shop/web", "shop/api", "shop/ghost"]))
    spec: dict[str, Any] = {
        "type": kind,
        "name": name,
        "state": draw(
            st.sampled_from(["Pending", "Pending", "Pending", "InProgress", "Completed"])
        ),
        "requester": "actor",
        "priority": draw(st.integers(-1, 2)),
    }
    base = now or datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    for key in ("notBefore", "deadline"):
        if draw(st.integers(0, 2)) == 0:
            offset = timedelta(minutes=draw(st.integers(-120, 120)))
            spec[key] = (base + offset).strftime("%Y-%m-%dT%H:%M:%SZ")
    if chaos and draw(st.integers(0, 20)) == 0:
        spec[draw(st.sampled_from(list(spec)))] = draw(json_values)
    return spec


@st.composite
def statuses(draw: st.DrawFn, now: datetime, spec: Any, chaos: bool = True) -> RequestStatus:
    if not chaos and draw(st.integers(0, 2)) > 0:
        return RequestStatus()
    state = draw(
        st.sampled_from(
            [
                None,
                None,
                None,
                S.PENDING,
                S.PENDING,
                S.PREPARING,
                S.PREPARING,
                S.APPROVED,
                S.IN_PROGRESS,
                S.COMPLETED,
                S.REJECTED,
                S.EXPIRED,
            ]
        )
    )
    if state is None:
        return RequestStatus()
    target = None
    if (
        isinstance(spec, dict)
        and isinstance(spec.get("type"), str)
        and isinstance(spec.get("name"), str)
    ):
        target = f"{spec['type']}/{spec['name']}"
    if state is S.PENDING:
        return RequestStatus(state=state, reason="LimitReached", message="waiting")
    since = now - draw(short_ages)
    fields: dict[str, Any] = {"preparing_since": since, "target": target}
    if state is S.PREPARING:
        if draw(st.booleans()):
            fields["drained_at"] = now - draw(short_ages)
            if draw(st.booleans()):
                fields["detached_at"] = now - draw(short_ages)
    elif state in (S.APPROVED, S.IN_PROGRESS):
        fields["approved_at"] = now - draw(short_ages)
        if state is S.IN_PROGRESS:
            fields["started_at"] = now - draw(short_ages)
    else:
        if draw(st.booleans()):
            fields["approved_at"] = now - draw(ages)
        fields["finished_at"] = draw(st.none() | ages.map(lambda d: now - d))
        if state is S.REJECTED and draw(st.booleans()):
            fields["target"] = None
    return RequestStatus(state=state, reason="Recorded", message="as recorded", **fields)


@st.composite
def requests(
    draw: st.DrawFn, now: datetime, node_names: list[str], chaos: bool = True
) -> tuple[MaintenanceRequest, ...]:
    count = draw(st.integers(0 if chaos else 3, len(REQUEST_NAMES)))
    result = []
    holders: set[str] = set()
    for name in REQUEST_NAMES[:count]:
        spec = draw(request_specs(node_names, chaos, now))
        status = draw(statuses(now, spec, chaos))
        if status.state is not None and status.state.active:
            if status.target is None or status.target in holders:
                status = RequestStatus()  # one active request per target, as the policy keeps it
            else:
                holders.add(status.target)
        result.append(
            MaintenanceRequest(
                name=name,
                uid=f"uid-{name}",
                resource_version=str(draw(st.integers(1, 10**6))),
                generation=draw(st.integers(1, 5)),
                creation_timestamp=now - draw(ages),
                spec=spec,
                status=status,
            )
        )
    return tuple(result)


@st.composite
def snapshots(
    draw: st.DrawFn, now: st.SearchStrategy[datetime] = whole_seconds, chaos: bool = True
) -> Snapshot:
    """Any snapshot; with chaos=False, one where many valid requests compete for room."""
    instant = draw(now)
    cluster_nodes = draw(nodes(instant))
    names = [n.name for n in cluster_nodes]
    return Snapshot(
        now=instant,
        nodes=cluster_nodes,
        pods=draw(pods(instant, names)),
        pdbs=draw(pdbs()),
        volume_attachments=tuple(
            VolumeAttachment(f"va-{i}", draw(st.sampled_from(names)), draw(st.booleans()))
            for i in range(draw(st.integers(0, 3)))
        ),
        workloads=(
            Workload(TargetType.DEPLOYMENT, "shop", "web", {"zone": "a"}),
            Workload(TargetType.DEPLOYMENT, "shop", "api", {"zone": "b"}),
        ),
        limits=(made := draw(limits(instant, chaos))),
        requests=draw(requests(instant, names, chaos)),
        gates=draw(gate_readings(instant, [m.name for m in made])),
    )


@st.composite
def gate_readings(draw: st.DrawFn, now: datetime, names: list[str]) -> tuple[GateReading, ...]:
    """For some limits' gates: a reading that finds nothing, finds something, failed,
    or is stale (a limit without the gate ignores it; one without a reading holds)."""
    found = []
    for name in names:
        for kind in GateKind:
            how = draw(st.sampled_from(["none", "open", "open", "found", "error", "stale"]))
            if how == "none":
                continue
            found.append(
                GateReading(
                    limit=name,
                    gate=kind,
                    at=now - timedelta(seconds=600 if how == "stale" else 1),
                    found=("ns/blocker",) if how == "found" else (),
                    error="connection refused" if how == "error" else "",
                )
            )
    return tuple(found)


def any_snapshots() -> st.SearchStrategy[Snapshot]:
    """Malformed input and contention, half and half."""
    return snapshots() | snapshots(chaos=False)


@st.composite
def draining_snapshots(draw: st.DrawFn) -> Snapshot:
    """Nodes under one draining limit with room for all, each with a request Pending or
    Preparing (drained or not): every pod of the strategy meets the drain's rules in
    every pass, where `snapshots` mostly stops earlier (limits, windows, contention)."""
    instant = draw(whole_seconds)
    cluster_nodes = tuple(
        attrs.evolve(n, ready=draw(st.booleans())) for n in draw(nodes(instant))
    )  # sick and dead nodes are what node repair drains
    names = [n.name for n in cluster_nodes]
    drain = draw(
        st.fixed_dictionaries(
            {"timeoutSeconds": st.sampled_from([60, 600])},
            optional={
                "gracePeriodSeconds": st.sampled_from([0, 30]),
                "deleteEmptyDirData": st.booleans(),
                "force": st.booleans(),
                "skipWaitForDeleteTimeoutSeconds": st.sampled_from([0, 60, 300]),
            },
        )
    )
    limit = MaintenanceLimit(
        name="node",
        uid="uid-node",
        spec={"type": "node", "limit": 100, "cordon": draw(st.booleans()), "drain": drain},
    )
    requests = []
    for name in names:
        state = draw(st.sampled_from([None, RequestState.PREPARING]))
        status = RequestStatus()
        if state is not None:
            status = RequestStatus(
                state=state,
                target=f"node/{name}",
                # Mostly within the drain timeout: a drain that goes on.
                preparing_since=instant
                - draw(
                    st.sampled_from([0, 10, 30, 59]).map(lambda s: timedelta(seconds=s))
                    | short_ages
                ),
                drained_at=draw(st.none() | short_ages.map(lambda d: instant - d)),
            )
        requests.append(
            MaintenanceRequest(
                name=f"mr-{name}",
                uid=f"uid-mr-{name}",
                spec={"type": "node", "name": name, "state": "Pending", "requester": "actor"},
                status=status,
            )
        )
    # Half of the pods unready: crash-looping, pulling images.
    drawn = tuple(attrs.evolve(p, ready=draw(st.booleans())) for p in draw(pods(instant, names)))
    if draw(st.booleans()):
        # Dead nodes: the kubelet is gone, every pod on a NotReady node is stuck
        # terminating, some past any wait for deletes.
        dead = {n.name for n in cluster_nodes if not n.ready}
        drawn = tuple(
            attrs.evolve(p, deletion_timestamp=instant - draw(short_ages)) if p.node in dead else p
            for p in drawn
        )
    return Snapshot(
        now=instant,
        nodes=cluster_nodes,
        pods=drawn,
        pdbs=draw(pdbs()),
        limits=(limit,),
        requests=tuple(requests),
    )


@st.composite
def changed_after_approval(draw: st.DrawFn) -> Snapshot:
    """Issue 28: nodes already under Approved or InProgress maintenance, approved with
    or without a drain, and since then the cluster moved under them: the limit gained
    or lost a drain (or a cordon), PDBs were created over their pods (several over one
    pod), pods were relabelled, pods that follow the cordon run there. The other nodes
    have requests waiting or preparing. The PDBs' status is the disruption controller's
    count of the pods now (no lag: what the maintenance will take down is still up)."""
    instant = draw(whole_seconds)
    count = draw(st.integers(2, 5))
    cluster_nodes = tuple(Node(f"n{i}", labels={"zone": "a"}) for i in range(count))
    names = [n.name for n in cluster_nodes]
    working = draw(st.lists(st.sampled_from(names), min_size=1, max_size=count - 1, unique=True))
    pods_now = []
    for node in names:
        for index in range(draw(st.integers(1, 3))):
            app = draw(st.sampled_from(["web", "web", "db"]))
            labels = {"app": app}
            if draw(st.booleans()):
                labels["tier"] = draw(st.sampled_from(["front", "back"]))
            owner = draw(st.sampled_from(["ReplicaSet", "ReplicaSet", "DaemonSet"]))
            pods_now.append(
                Pod(
                    namespace="ns",
                    name=f"{app}-{node}-{index}",
                    uid=f"uid-{app}-{node}-{index}",
                    node=node,
                    labels=labels,
                    owner_kind=owner,
                    owner_name=app,
                    follows_cordon=draw(st.integers(0, 3)) == 0,
                    ready=draw(st.integers(0, 5)) > 0,
                )
            )
    budgets = []
    for index in range(draw(st.integers(1, 4))):
        key, value = draw(
            st.sampled_from([("app", "web"), ("app", "web"), ("app", "db"), ("tier", "front")])
        )
        budgets.append(
            PodDisruptionBudget(
                namespace="ns",
                name=f"pdb-{index}",
                selector=LabelSelector({key: value}),
                desired_healthy=draw(st.integers(0, 4)),
                observed_generation=1,
            )
        )
    limit_spec: dict[str, Any] = {"type": "node", "limit": 100}
    if draw(st.booleans()):
        limit_spec["drain"] = {"timeoutSeconds": 900}
    if draw(st.booleans()):
        limit_spec["cordon"] = True
    requests = []
    for name in names:
        if name in working:
            state = draw(st.sampled_from([RequestState.APPROVED, RequestState.IN_PROGRESS]))
            drained = draw(st.booleans())
            status = RequestStatus(
                state=state,
                target=f"node/{name}",
                preparing_since=instant - timedelta(minutes=10),
                drained_at=instant - timedelta(minutes=8) if drained else None,
                approved_at=instant - timedelta(minutes=5),
                started_at=instant - timedelta(minutes=4)
                if state is RequestState.IN_PROGRESS
                else None,
            )
            spec_state = "InProgress" if state is RequestState.IN_PROGRESS else "Pending"
        else:
            status = draw(
                st.sampled_from(
                    [
                        RequestStatus(),
                        RequestStatus(
                            state=RequestState.PREPARING,
                            target=f"node/{name}",
                            preparing_since=instant - timedelta(minutes=1),
                        ),
                    ]
                )
            )
            spec_state = "Pending"
        requests.append(
            MaintenanceRequest(
                name=f"mr-{name}",
                uid=f"uid-mr-{name}",
                spec={"type": "node", "name": name, "state": spec_state, "requester": "a"},
                status=status,
            )
        )
    snapshot = Snapshot(
        now=instant,
        nodes=cluster_nodes,
        pods=tuple(pods_now),
        pdbs=tuple(budgets),
        limits=(MaintenanceLimit(name="node", uid="uid-node", spec=limit_spec),),
        requests=tuple(requests),
    )
    from tests.model import recompute_budgets  # noqa: PLC0415 - the model, not the policy

    return attrs.evolve(snapshot, pdbs=recompute_budgets(snapshot))
