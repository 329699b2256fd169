"""Which pods a drain must move, which it may evict, and which PDBs guard them.

Pure. A drain must see the node empty of every pod that would be disrupted: all pods
but DaemonSet pods (their controller puts them back and tolerates the cordon), pods
that tolerate the cordon themselves (meant to run on cordoned nodes: kubectl drain
would find them back at once), mirror pods (static, owned by the kubelet) and terminal
pods. Maintenance without a drain still takes the cordon-tolerating ones down, so
their budgets count there (`disrupted_by_maintenance`). Of those, a pod may be evicted
now unless it is already terminating (we wait for it), it keeps emptyDir data and the
limit does not allow deleting it, or no controller would recreate it and the limit
does not force. Budgets themselves are spent in `policy.ledger`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import attrs

from policy.limit_spec import DrainSpec
from policy.model import Enum, Pod, PodDisruptionBudget


class PodDisposition(Enum):
    IGNORED = "ignored"
    """Not disrupted by the drain: DaemonSet, mirror or terminal pods."""
    TERMINATING = "terminating"
    EVICTABLE = "evictable"
    KEEPS_EMPTY_DIR = "emptyDir"
    UNMANAGED = "unmanaged"


def disposition(pod: Pod, drain: DrainSpec | None) -> PodDisposition:
    if pod.mirror or pod.owner_kind == "DaemonSet" or pod.terminal or pod.follows_cordon:
        return PodDisposition.IGNORED
    if pod.terminating:
        return PodDisposition.TERMINATING
    force = drain is not None and drain.force
    delete_empty_dir = drain is not None and drain.delete_empty_dir_data
    if pod.owner_kind is None and not force:
        return PodDisposition.UNMANAGED
    if pod.empty_dir and not delete_empty_dir:
        return PodDisposition.KEEPS_EMPTY_DIR
    return PodDisposition.EVICTABLE


def disrupted_by_maintenance(pod: Pod) -> bool:
    """A pod that maintenance of its node without a drain would take down."""
    return not (pod.mirror or pod.owner_kind == "DaemonSet" or pod.terminal or pod.terminating)


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
