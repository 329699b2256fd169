"""Events (runner.apply): every transition of a request is one, except that requests
seen for the first time and queued get them only for the first QUEUED_EVENTS_PER_PASS
of a pass (issue 16: 5,000 requests filed at once must not double a pass's writes).
"""

from __future__ import annotations

from runner.apply import QUEUED_EVENTS_PER_PASS
from tests.integration.cluster import GROUP, VERSION, Cluster
from tests.integration.conftest import ControlPlane
from tests.integration.test_approval_gate import one_pass
from tests.integration.test_runner import request_body, status_of


def test_requests_filed_at_once_and_queued_get_a_limited_number_of_events(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    """A request seen for the first time and left Pending gets an Event only among the
    first QUEUED_EVENTS_PER_PASS of its pass (its status says the same); the one
    admitted gets its Event whatever came before it."""
    nodes = cluster.nodes(QUEUED_EVENTS_PER_PASS + 6)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", type="node", limit=100, maxConcurrent=1)
    names = [f"{cluster.prefix}-mr-{i}" for i in range(len(nodes))]
    for name, node in zip(names, nodes, strict=True):
        cluster.custom.create_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", request_body(name, node)
        )
    one_pass(control_plane)
    states = {name: status_of(cluster, name)["state"] for name in names}
    assert sorted(states.values()).count("Pending") == len(names) - 1, states
    events = [
        e
        for e in cluster.core.list_namespaced_event("default").items
        if e.involved_object.name in names
    ]
    queued = [e for e in events if e.reason == "LimitReached"]
    assert len(queued) == QUEUED_EVENTS_PER_PASS, [e.involved_object.name for e in queued]
    assert [e.reason for e in events if e.reason != "LimitReached"] == ["Approved"], events
