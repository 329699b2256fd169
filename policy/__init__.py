"""repairman's policy: a pure function from a cluster snapshot to a plan.

`plan(snapshot) -> Plan` decides, for one runner pass, which maintenance requests to
admit, prepare (cordon, drain, wait for volumes), approve, expire or finish, which pods
to evict and which nodes to uncordon, and explains every request's state. It performs
no I/O, reads no clock and imports nothing from Kubernetes: the runner (`runner/`)
reads the cluster into a `Snapshot`, applies or prints the `Plan`, and the tests and
the forecast replay it against recorded or simulated clusters.
"""

from policy.decisions import (
    Cordon,
    Decision,
    DeleteRequest,
    Evict,
    LimitReport,
    Plan,
    SetNodeConditions,
    Uncordon,
    UpdateLimitStatus,
    UpdateRequestStatus,
)
from policy.explain import Explanation, Reason
from policy.model import (
    CORDONED_BY,
    CORDONED_BY_UID,
    LabelSelector,
    LimitStatus,
    MaintenanceLimit,
    MaintenanceRequest,
    Node,
    Pod,
    PodDisruptionBudget,
    RequestState,
    RequestStatus,
    Snapshot,
    TargetType,
    VolumeAttachment,
    Workload,
)
from policy.planner import plan

__all__ = [
    "CORDONED_BY",
    "CORDONED_BY_UID",
    "Cordon",
    "Decision",
    "DeleteRequest",
    "Evict",
    "Explanation",
    "LabelSelector",
    "LimitReport",
    "LimitStatus",
    "MaintenanceLimit",
    "MaintenanceRequest",
    "Node",
    "Plan",
    "Pod",
    "PodDisruptionBudget",
    "Reason",
    "RequestState",
    "RequestStatus",
    "SetNodeConditions",
    "Snapshot",
    "TargetType",
    "Uncordon",
    "UpdateLimitStatus",
    "UpdateRequestStatus",
    "VolumeAttachment",
    "Workload",
    "plan",
]
