"""Malformed objects that reach the runner through the API never stop a pass.

Hypothesis generates request and limit specs — wrong types, unknown enum values, huge
and unicode strings, missing fields, names of nodes that do not exist — and creates
them through the 1.20 API server, which lets through whatever its schema does not
forbid (no CEL). Beside them stand one good request and one good limit. After a pass:
the runner exited 0, the good request is Approved, every bad request that got through
is Rejected (or waits) with a reason, and a bad limit reports itself invalid naming
the field. Examples are few (each creates objects on a real API server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes.client.exceptions import ApiException

from tests.integration.cluster import Cluster
from tests.integration.conftest import GROUP, VERSION, ControlPlane
from tests.integration.test_runner import limit_body, request_body, runner, status_of
from tests.properties.strategies import json_values, limit_specs, request_specs

NODES = ["bad-input-a", "bad-input-b"]


def try_create(cluster: Cluster, plural: str, body: dict[str, Any]) -> bool:
    try:
        cluster.custom.create_cluster_custom_object(GROUP, VERSION, plural, body)
    except ApiException as error:
        assert error.status in (400, 422), error
        return False
    return True


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    requests=st.lists(request_specs(NODES) | json_values, min_size=1, max_size=4),
    bad_limit=limit_specs("zone-z"),
)
def test_bad_objects_never_stop_a_pass(
    cluster: Cluster,
    control_plane: ControlPlane,
    tmp_path: Path,
    requests: list[Any],
    bad_limit: Any,
) -> None:
    if not cluster.core.list_node(label_selector=f"repairman.test/prefix={cluster.prefix}").items:
        created = [
            cluster.node("good"),
            *(cluster.node(n.removeprefix("bad-input-")) for n in NODES),
        ]
        cluster.wait_nodes_ready(created)
    good_node = f"{cluster.prefix}-good"
    custom = cluster.custom
    try:
        try_create(cluster, "maintenancelimits", limit_body("node", limit=100))
        try_create(
            cluster,
            "maintenancelimits",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "MaintenanceLimit",
                "metadata": {"name": "zone-z"},
                "spec": bad_limit,
            },
        )
        good = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "MaintenanceRequest",
            "metadata": {"name": "mr-good"},
            "spec": {"type": "node", "name": good_node, "priority": 2**30},
        }
        assert try_create(cluster, "maintenancerequests", good)
        accepted = []
        for index, spec in enumerate(requests):
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "MaintenanceRequest",
                "metadata": {"name": f"mr-bad-{index}"},
                "spec": spec,
            }
            if try_create(cluster, "maintenancerequests", body):
                accepted.append(body["metadata"]["name"])
        namespace = f"{cluster.prefix}-lease"
        if not cluster.core.list_namespace(field_selector=f"metadata.name={namespace}").items:
            cluster.core.create_namespace({"metadata": {"name": namespace}})
        code, _, logs = runner(control_plane.kubeconfig, "--lease-namespace", namespace)
        assert code == 0, logs
        good_state = status_of(cluster, "mr-good")
        zone_z = (
            custom.get_cluster_custom_object(GROUP, VERSION, "maintenancelimits", "zone-z")
            if any(
                m["metadata"]["name"] == "zone-z"
                for m in custom.list_cluster_custom_object(GROUP, VERSION, "maintenancelimits")[
                    "items"
                ]
            )
            else None
        )
        message = ((zone_z or {}).get("status") or {}).get("message", "")
        if message.startswith("invalid"):
            assert "spec" in message  # names the field
        # A valid zone-z limit may govern the good node and hold it back, with a reason.
        assert good_state.get("state") in ("Approved", "Preparing", "Pending"), good_state
        if good_state["state"] == "Pending":
            assert good_state["reason"] in (
                "LimitReached",
                "WindowClosed",
                "MinInterval",
                "LimitInvalid",
                # DESIGN §7's controls: a generated limit may carry any of them (its
                # gates are read and fail closed: no Prometheus here).
                "Paused",
                "Blackout",
                "RateLimited",
                "FailureBudgetExceeded",
                "AlertFiring",
                "BlockingPods",
                "GateUnavailable",
            ), good_state
        for name in accepted:
            status = status_of(cluster, name)
            assert status.get("state") and status.get("reason"), (name, status)
            if status["state"] == "Rejected" and status["reason"] == "InvalidSpec":
                assert "spec" in status["message"]
    finally:
        for plural in ("maintenancerequests", "maintenancelimits"):
            custom.delete_collection_cluster_custom_object(GROUP, VERSION, plural)
        for node in cluster.core.list_node(
            label_selector=f"repairman.test/prefix={cluster.prefix}"
        ).items:
            if node.spec.unschedulable:
                cluster.core.patch_node(
                    node.metadata.name,
                    {
                        "spec": {"unschedulable": False},
                        "metadata": {"annotations": {"repairman.k8s.io/cordoned-by": None}},
                    },
                )


def test_a_node_that_vanishes_mid_drain_rejects_its_request_and_nothing_else(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    """The node of a preparing request is deleted while its pods still wait for a PDB
    (which allows no disruption): the next pass exits 0, the request is Rejected with
    TargetNotFound naming the node, the limit's slot is free again, and a request for
    another node is admitted in its place."""
    doomed, other = cluster.node("doomed"), cluster.node("other")
    cluster.wait_nodes_ready([doomed, other])
    cluster.unmanaged_pod("pinned", doomed)
    cluster.pdb("pinned", min_available=1)
    cluster.running_ready("pinned", 1)
    cluster.disruptions_allowed("pinned", 0)
    custom = cluster.custom
    custom.create_cluster_custom_object(
        GROUP,
        VERSION,
        "maintenancelimits",
        limit_body("node", limit=100, maxConcurrent=1, drain={"timeoutSeconds": 300}),
    )
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-doomed", doomed)
    )
    namespace = f"{cluster.prefix}-lease"
    cluster.core.create_namespace({"metadata": {"name": namespace}})
    code, _, logs = runner(control_plane.kubeconfig, "--lease-namespace", namespace)
    assert code == 0, logs
    preparing = status_of(cluster, "mr-doomed")
    assert preparing["state"] == "Preparing", preparing
    assert "pinned" in preparing["message"], "the PDB holds the drain, and says so"
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-other", other)
    )
    cluster.core.delete_node(doomed)
    code, _, logs = runner(control_plane.kubeconfig, "--lease-namespace", namespace)
    assert code == 0, logs
    gone = status_of(cluster, "mr-doomed")
    assert (gone["state"], gone["reason"]) == ("Rejected", "TargetNotFound"), gone
    assert doomed in gone["message"]
    # A slot freed by a finish is given out on the next pass (docs/policy.md).
    code, _, logs = runner(control_plane.kubeconfig, "--lease-namespace", namespace)
    assert code == 0, logs
    assert status_of(cluster, "mr-other")["state"] in ("Preparing", "Approved")
