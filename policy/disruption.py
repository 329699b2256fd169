"""Which pods a drain must move, which it may evict, and which PDBs guard them.

Pure. The rules are kubectl drain's filters and the Eviction API's own (DESIGN §3
"Drains behave like kubectl drain"):

- A drain must see the node empty of every pod that would be disrupted: all pods but
  DaemonSet pods (their controller puts them back and tolerates the cordon), pods that
  tolerate the cordon themselves (meant to run on cordoned nodes: kubectl drain would
  find them back at once), mirror pods (static, owned by the kubelet) and terminal
  pods. The pods a maintenance does not move go down with the node, in place
  (`goes_down_in_place`): without a drain all of them, with one the DaemonSet and
  cordon-tolerating pods the drain leaves; their PDBs are charged for them.
- Of those, a terminating pod is waited for; on a NotReady node (its kubelet gone, so
  nothing will finish the deletion) it counts as gone once
  `skipWaitForDeleteTimeoutSeconds` have passed since its deletionTimestamp (kubectl
  drain's --skip-wait-for-delete-timeout, measured the same way).
- A pod that keeps emptyDir data when the limit does not allow deleting it, or that no
  controller would recreate when the limit does not force, can never be evicted under
  the options in force (kubectl drain's local-storage and unreplicated filters): the
  drain then evicts nothing at all (policy.preparation).
- How an eviction meets the PDBs (`eviction_budget`) is the API server's rule: a
  Pending pod is deleted without a PDB check; a pod selected by several PDBs is
  refused; an unready pod is let go without spending the budget when its PDB's
  `unhealthyPodEvictionPolicy` is AlwaysAllow, or (IfHealthyBudget, the default) while
  the application is at its healthy count (currentHealthy >= desiredHealthy > 0);
  anything else spends one disruption. Budgets themselves are spent in
  `policy.ledger`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

from policy.limit_spec import DrainSpec
from policy.model import Enum, Pod, PodDisruptionBudget


class PodDisposition(Enum):
    IGNORED = "ignored"
    """Not disrupted by the drain: DaemonSet, mirror, terminal or cordon-following pods."""
    GONE = "gone"
    """Terminating on a NotReady node past the wait for deletes: counts as gone."""
    TERMINATING = "terminating"
    EVICTABLE = "evictable"
    KEEPS_EMPTY_DIR = "emptyDir"
    UNMANAGED = "unmanaged"


LEFT_BEHIND = frozenset({PodDisposition.IGNORED, PodDisposition.GONE})
"""Dispositions of the pods a drained node may still show."""

NEVER_EVICTED = frozenset({PodDisposition.KEEPS_EMPTY_DIR, PodDisposition.UNMANAGED})
"""Dispositions of pods the drain's options forbid evicting: kubectl drain refuses the
whole node for one of them."""


def disposition(
    pod: Pod, drain: DrainSpec | None, gone_before: datetime | None = None
) -> PodDisposition:
    """What a drain does with `pod`. `gone_before` (see `gone_before`): a terminating
    pod whose deletionTimestamp is older counts as gone."""
    if pod.mirror or pod.owner_kind == "DaemonSet" or pod.terminal or pod.follows_cordon:
        return PodDisposition.IGNORED
    if pod.terminating:
        if gone_before is not None and pod.deletion_timestamp < gone_before:  # type: ignore[operator]
            return PodDisposition.GONE
        return PodDisposition.TERMINATING
    force = drain is not None and drain.force
    delete_empty_dir = drain is not None and drain.delete_empty_dir_data
    if pod.owner_kind is None and not force:
        return PodDisposition.UNMANAGED
    if pod.empty_dir and not delete_empty_dir:
        return PodDisposition.KEEPS_EMPTY_DIR
    return PodDisposition.EVICTABLE


def gone_before(
    *, node_ready: bool, drain: DrainSpec | None, now: datetime | None
) -> datetime | None:
    """DESIGN §3 "Dead nodes": on a NotReady node, the instant before which a
    terminating pod's deletionTimestamp makes it count as gone; None on a Ready node
    (its kubelet finishes every deletion), without a drain, without a clock, or with
    the wait set to 0 (never, as kubectl's flag).

    The API server sets deletionTimestamp to the deletion's start plus its grace
    period, so "terminating longer than its grace + N" is "deletionTimestamp more than
    N ago", as kubectl drain measures --skip-wait-for-delete-timeout."""
    if node_ready or drain is None or now is None:
        return None
    wait = drain.skip_wait_for_delete_timeout_seconds
    if wait == 0:
        return None  # 0: never, as kubectl's --skip-wait-for-delete-timeout=0
    return now - timedelta(seconds=wait)


class EvictionBudget(Enum):
    """How the Eviction API weighs an eviction of a pod against its PDBs."""

    NO_PDB = "no PDB selects it"
    PENDING = "Pending: evicted without a PDB check"
    UNHEALTHY_ALWAYS_ALLOW = "unready, and its PDB's unhealthyPodEvictionPolicy is AlwaysAllow"
    UNHEALTHY_AT_HEALTHY_COUNT = "unready, and its PDB is at its healthy count"
    SPENDS = "spends one disruption of its PDB"
    SEVERAL_PDBS = "selected by several PDBs: the Eviction API refuses it"

    @property
    def free(self) -> bool:
        """Evicted without spending any PDB's budget."""
        return self in _FREE


_FREE = frozenset(
    {
        EvictionBudget.NO_PDB,
        EvictionBudget.PENDING,
        EvictionBudget.UNHEALTHY_ALWAYS_ALLOW,
        EvictionBudget.UNHEALTHY_AT_HEALTHY_COUNT,
    }
)

ALWAYS_ALLOW = "AlwaysAllow"


def eviction_budget(pod: Pod, pdbs: tuple[PodDisruptionBudget, ...]) -> EvictionBudget:
    """The API server's rule for evicting `pod` (not terminating, not terminal),
    selected by `pdbs` (k8s.io/kubernetes pkg/registry/core/pod/storage/eviction.go):
    a Pending pod is deleted before any PDB is looked at; more than one PDB is refused
    (500); an unready pod under AlwaysAllow, or under IfHealthyBudget (the default,
    and what any other value gets here) while currentHealthy >= desiredHealthy > 0, is
    deleted without decrementing; else the budget is checked and decremented. The
    status fields are the ones the API server reads, stale or not: an unready pod's
    deletion never lowers the healthy count the budget protects."""
    if pod.phase == "Pending":
        return EvictionBudget.PENDING
    if not pdbs:
        return EvictionBudget.NO_PDB
    if len(pdbs) > 1:
        return EvictionBudget.SEVERAL_PDBS
    if not pod.ready:
        pdb = pdbs[0]
        if pdb.unhealthy_pod_eviction_policy == ALWAYS_ALLOW:
            return EvictionBudget.UNHEALTHY_ALWAYS_ALLOW
        if pdb.desired_healthy > 0 and pdb.current_healthy >= pdb.desired_healthy:
            return EvictionBudget.UNHEALTHY_AT_HEALTHY_COUNT
    return EvictionBudget.SPENDS


def goes_down_in_place(pod: Pod, drain: DrainSpec | None) -> bool:
    """DESIGN §3 "Pods that go down in place": a pod that stays on its node through
    the maintenance and goes down with it. Without a drain, every pod (DaemonSet pods
    too); with one, the pods the drain leaves: DaemonSet pods and pods that follow the
    cordon. Not mirror pods (the kubelet's own; the Eviction API and PDBs' controllers
    do not manage them), nor pods already terminal or terminating."""
    if pod.mirror or pod.terminal or pod.terminating:
        return False
    return drain is None or pod.owner_kind == "DaemonSet" or pod.follows_cordon


def charged_in_place(pod: Pod, drain: DrainSpec | None, *, node_ready: bool) -> bool:
    """A pod that goes down in place and is charged for it at admission and approval:
    any of them on a Ready node (an unready or Pending one may be up again before the
    maintenance takes it down), only the ready ones on a NotReady node — the others
    are down already, their PDB counts them out, and they do not come back before the
    node does: the repair of a dead node must be able to start (found by the issue 28
    review: a dead node's own unready DaemonSet pod held its repair for ever)."""
    return goes_down_in_place(pod, drain) and (pod.ready or node_ready)


@attrs.define
class BudgetIndex:
    """Finds the PDBs selecting a pod without testing every PDB against every pod.

    PDBs are bucketed by namespace and, when they have matchLabels, by one of their
    key=value pairs; a pod then tests only the PDBs of its namespace that share a
    label pair with it, plus those with no matchLabels.
    """

    by_pair: dict[tuple[str, str, str], list[PodDisruptionBudget]]
    unkeyed: dict[str, list[PodDisruptionBudget]]

    @classmethod
    def build(cls, pdbs: Iterable[PodDisruptionBudget]) -> BudgetIndex:
        by_pair: dict[tuple[str, str, str], list[PodDisruptionBudget]] = defaultdict(list)
        unkeyed: dict[str, list[PodDisruptionBudget]] = defaultdict(list)
        for pdb in pdbs:
            if pdb.selector is None:
                continue
            if pdb.selector.match_labels:
                key, value = min(pdb.selector.match_labels.items())
                by_pair[(pdb.namespace, key, value)].append(pdb)
            else:
                unkeyed[pdb.namespace].append(pdb)
        for bucket in (*by_pair.values(), *unkeyed.values()):
            bucket.sort(key=lambda p: p.key)
        return cls(dict(by_pair), dict(unkeyed))

    def selecting(self, pod: Pod) -> tuple[PodDisruptionBudget, ...]:
        labels = pod.labels
        found = [
            pdb
            for pdb in self.unkeyed.get(pod.namespace, ())
            if pdb.selector is not None and pdb.selector.matches(labels)
        ]
        for key, value in labels.items():
            for pdb in self.by_pair.get((pod.namespace, key, value), ()):
                if pdb.selector is not None and pdb.selector.matches(labels):
                    found.append(pdb)
        if len(found) > 1:
            found.sort(key=lambda p: p.key)
        return tuple(found)
