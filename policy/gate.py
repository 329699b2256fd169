"""The approval gate: does an approval still hold on a fresh read? (DESIGN §3 "Never
approve on stale data")

Pure. A plan approves a node request on what its snapshot showed: the node's pods (a
watch-cache read that may be behind), the PDBs' budgets, the governing limits. Between
that read and the write of `Approved`, pods are bound to the node (by name, or missed
by the cache), budgets are spent by others, limits are edited or deleted. So each
approval carries its `Basis`: what it relied on, and how much slack it left. Right
before writing it, the runner reads the node, its pods, the PDBs and the limits again,
consistently, and asks `recheck`; any answer but none means the approval is not
written this pass (the next pass plans again on what it finds).

- With a drain: no pod that the drain would move is on the node (on a node NotReady
  at the fresh read, pods terminating past the wait for deletes count as gone, judged
  at the gate's instant: policy.disruption.gone_before).
- The pods that go down in place (without a drain all of them, and then none may be
  selected by several PDBs; with one, the DaemonSet and cordon-tolerating pods it
  leaves, each charged to every PDB that selects it): each PDB still covers them. The
  plan spent `counted` of a budget it read as `assumed` and left `left` for later
  approvals in the same pass; on the fresh read the slack is `left + (allowed now -
  assumed) - (pods now - counted)`, which must not go below zero. A PDB the plan did
  not count (a new pod, a new PDB) fails the check: the next pass counts it.
- The governing limits are the same ones (`metadata.uid`), unedited
  (`metadata.generation`), and still valid: an edit, a deletion, or a deletion and
  creation under the same name after the read defers the approval.
- Their windows are still open at the gate's instant (the server's clock at the fresh
  read, when the runner has it): a pass slowed by retries must not approve after a
  window closed.
- A cordoning limit's node is still unschedulable under our annotation: someone
  uncordoned it after we cordoned it, or took over the cordon.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

import attrs

from policy.blackouts import blacked_out
from policy.disruption import (
    LEFT_BEHIND,
    BudgetIndex,
    charged_in_place,
    disposition,
    gone_before,
)
from policy.explain import MAX_LISTED, at
from policy.limit_spec import DrainSpec, LimitSpec, parse_limit_spec
from policy.model import (
    CORDONED_BY,
    MaintenanceLimit,
    Node,
    Pod,
    PodDisruptionBudget,
    TargetType,
)
from policy.windows import next_opening


@attrs.frozen
class BudgetBasis:
    """One PDB an approval without drain spends: what the plan read and left."""

    pdb: str
    assumed: int
    """The disruptions it read as allowed (0 for a stale status)."""
    counted: int
    """The node's pods of this PDB it counted."""
    left: int
    """What it left for the approvals after this one in the same pass."""


@attrs.frozen
class Basis:
    """What one approval of a node request relied on."""

    request: str
    node: str
    cordon: bool
    """A governing limit cordons: the node must still be cordoned, by `cordoned_by`."""
    cordoned_by: str | None
    """Whose cordon the plan left on the node: `request` (ours), or None (someone
    else's, which it left alone)."""
    drain: DrainSpec | None
    budgets: tuple[BudgetBasis, ...] = ()
    """Every PDB the node's pods that go down in place spend."""
    limits: tuple[tuple[str, str, int], ...] = ()
    """The governing limits, (name, metadata.uid, metadata.generation), by name: a
    limit deleted and created again under its name is another limit (generation 1
    again, perhaps with other settings)."""
    request_uid: str = ""
    """The request's uid, for a cordon made for it after the approval."""


# --- why a fresh read refuses an approval: a closed set of frozen causes ------------


@attrs.frozen
class NodeGone:
    node: str

    def message(self) -> str:
        return f"node {self.node} is gone"


@attrs.frozen
class LimitBroken:
    """A governing limit is invalid now."""

    limit: str
    error: str

    def message(self) -> str:
        return f"limit {self.limit} is invalid ({self.error})"


@attrs.frozen
class WindowClosedNow:
    """A governing limit's window closed by the gate's instant."""

    limit: str
    opens: datetime

    def message(self) -> str:
        return f"limit {self.limit}'s window is closed (it opens {at(self.opens)})"


@attrs.frozen
class BlackoutNow:
    """A governing limit's blackout began by the gate's instant."""

    limit: str
    until: datetime

    def message(self) -> str:
        return f"limit {self.limit} is in a blackout (until {at(self.until)})"


@attrs.frozen
class LimitGone:
    """A limit the approval relied on was deleted or no longer governs the node."""

    limit: str
    node: str

    def message(self) -> str:
        return f"limit {self.limit} was deleted or no longer governs {self.node}"


@attrs.frozen
class LimitNew:
    limit: str
    node: str

    def message(self) -> str:
        return f"limit {self.limit} now governs {self.node}"


@attrs.frozen
class LimitRecreated:
    limit: str

    def message(self) -> str:
        return f"limit {self.limit} was deleted and created again"


@attrs.frozen
class LimitEdited:
    limit: str
    was: int
    generation: int

    def message(self) -> str:
        return f"limit {self.limit} was edited (generation {self.was} -> {self.generation})"


@attrs.frozen
class CordonLost:
    """The node is no longer cordoned by whom the plan left the cordon to."""

    node: str
    expected: str | None
    """The request whose cordon the plan relied on; None: someone else's."""
    owner: str | None
    """Whose cordon it is now, when unschedulable under our annotation."""

    def message(self) -> str:
        was = f"for {self.expected}" if self.expected else "by someone else"
        named = f" (cordoned-by names {self.owner})" if self.owner else ""
        return f"{self.node} is no longer cordoned {was}{named}"


@attrs.frozen
class PodsStillThere:
    """Pods the drain would move are on the node."""

    node: str
    pods: tuple[str, ...]

    def message(self) -> str:
        shown = ", ".join(self.pods[:MAX_LISTED])
        more = f" and {len(self.pods) - MAX_LISTED} more" if len(self.pods) > MAX_LISTED else ""
        return f"{len(self.pods)} pods still on {self.node}: {shown}{more}"


@attrs.frozen
class SeveralBudgetsNow:
    """Without a drain, a pod of the node is selected by several PDBs."""

    pod: str
    pdbs: tuple[str, ...]

    def message(self) -> str:
        return f"{self.pod} is selected by several PDBs ({', '.join(self.pdbs)})"


@attrs.frozen
class BudgetNotCounted:
    """A PDB the plan did not count selects pods that go down in place."""

    pdb: str
    node: str
    pods: int

    def message(self) -> str:
        return f"PDB {self.pdb} now selects {self.pods} pods on {self.node}"


@attrs.frozen
class BudgetShortNow:
    """A PDB no longer covers the node's pods that go down in place."""

    pdb: str
    node: str
    pods: int
    allowed: int
    assumed: int

    def message(self) -> str:
        return (
            f"PDB {self.pdb} no longer covers {self.node}: {self.pods} pods there, "
            f"{self.allowed} disruptions allowed now (planned on {self.assumed})"
        )


Refusal = (
    NodeGone
    | LimitBroken
    | WindowClosedNow
    | BlackoutNow
    | LimitGone
    | LimitNew
    | LimitRecreated
    | LimitEdited
    | CordonLost
    | PodsStillThere
    | SeveralBudgetsNow
    | BudgetNotCounted
    | BudgetShortNow
)
"""Why the approval gate refuses (`recheck`); `message()` is the human line."""


def recheck(
    basis: Basis,
    *,
    node: Node | None,
    pods: Iterable[Pod],
    pdbs: Iterable[PodDisruptionBudget],
    limits: Iterable[MaintenanceLimit],
    evicted: Mapping[str, int] | None = None,
    now: datetime | None = None,
) -> tuple[Refusal, ...]:
    """Why the approval no longer holds on the fresh read; empty when it does.

    `pods` are those bound to the node; `pdbs` those of the pods' namespaces, or all;
    `evicted`, per PDB, the evictions this pass already made (the Eviction API takes
    them off the PDB's status at once, and the plan's `left` already counts them);
    `now`, the instant of the fresh read (None: windows are not judged again)."""
    if node is None:
        return (NodeGone(basis.node),)
    problems: list[Refusal] = list(_limits_changed(basis, node, limits, now))
    owner = node.annotations.get(CORDONED_BY)
    if basis.cordon and not (node.unschedulable and owner == basis.cordoned_by):
        problems.append(
            CordonLost(basis.node, basis.cordoned_by, owner if node.unschedulable else None)
        )
    pods = list(pods)
    if basis.drain is not None:
        cutoff = gone_before(node_ready=node.ready, drain=basis.drain, now=now)
        problems.extend(_pods_left(basis.node, basis.drain, pods, cutoff))
    problems.extend(_budgets_short(basis, pods, pdbs, evicted or {}, node_ready=node.ready))
    return tuple(problems)


def _limits_changed(
    basis: Basis, node: Node, limits: Iterable[MaintenanceLimit], now: datetime | None
) -> list[Refusal]:
    relied = {name: (uid, generation) for name, uid, generation in basis.limits}
    found: dict[str, tuple[str, int]] = {}
    broken: set[str] = set()
    problems: list[Refusal] = []
    for limit in limits:
        parsed = parse_limit_spec(limit.name, limit.spec)
        if not parsed.governs(TargetType.NODE, node.labels):
            continue
        if not isinstance(parsed, LimitSpec):
            problems.append(LimitBroken(limit.name, str(parsed.error)))
            broken.add(limit.name)
            continue
        found[limit.name] = (limit.uid, limit.generation)
        if now is not None and parsed.windows:
            opens = next_opening(parsed.windows, now)
            if opens > now:
                problems.append(WindowClosedNow(limit.name, opens))
        if now is not None and parsed.blackouts:
            found_blackout = blacked_out(parsed.blackouts, now)
            if found_blackout is not None:
                problems.append(BlackoutNow(limit.name, found_blackout[1]))
    for name in sorted(relied.keys() - found.keys() - broken):
        problems.append(LimitGone(name, node.name))
    for name in sorted(found.keys() - relied.keys()):
        problems.append(LimitNew(name, node.name))
    for name in sorted(relied.keys() & found.keys()):
        (was_uid, was), (uid, generation) = relied[name], found[name]
        if was_uid != uid:
            problems.append(LimitRecreated(name))
        elif was != generation:
            problems.append(LimitEdited(name, was, generation))
    return problems


def _pods_left(
    node: str, drain: DrainSpec, pods: list[Pod], cutoff: datetime | None
) -> list[Refusal]:
    left = tuple(p.key for p in pods if disposition(p, drain, cutoff) not in LEFT_BEHIND)
    return [PodsStillThere(node, left)] if left else []


def _budgets_short(
    basis: Basis,
    pods: list[Pod],
    pdbs: Iterable[PodDisruptionBudget],
    evicted: Mapping[str, int],
    *,
    node_ready: bool,
) -> list[Refusal]:
    fresh = list(pdbs)
    index = BudgetIndex.build(fresh)
    allowed = {pdb.key: pdb.budget for pdb in fresh}
    relied = {b.pdb: b for b in basis.budgets}
    counts: Counter[str] = Counter()
    problems: list[Refusal] = []
    for pod in pods:
        if not charged_in_place(pod, basis.drain, node_ready=node_ready):
            continue
        selecting = index.selecting(pod)
        if basis.drain is None and len(selecting) > 1:
            problems.append(SeveralBudgetsNow(pod.key, tuple(p.key for p in selecting)))
            continue
        counts.update(p.key for p in selecting)
    for pdb, count in sorted(counts.items()):
        was = relied.get(pdb)
        if was is None:
            problems.append(BudgetNotCounted(pdb, basis.node, count))
            continue
        now = allowed[pdb] + evicted.get(pdb, 0)
        slack = was.left + (now - was.assumed) - (count - was.counted)
        if slack < 0:
            problems.append(BudgetShortNow(pdb, basis.node, count, allowed[pdb], was.assumed))
    return problems
