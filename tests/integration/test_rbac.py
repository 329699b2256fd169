"""RBAC from k8s/rbac.yaml, enforced by the real API server with real tokens.

Covers: an actor (a ServiceAccount bound to repairman-actor, its token from the
TokenRequest API) can file and update requests but cannot write their status (cannot
approve itself), cannot cordon and cannot evict; the runner's ServiceAccount can do
each thing DESIGN §5 needs (checked by real calls and by SubjectAccessReview) and
nothing else: its ClusterRole grants exactly the needed set, it cannot delete pods,
read Secrets or change request specs. Leaves out removing rules one by one (the
reliability issue).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.integration.cluster import Cluster
from tests.integration.conftest import (
    GROUP,
    ROOT,
    VERSION,
    ControlPlane,
    actor_account,
    token_for,
)
from tests.integration.test_runner import request_body

RUNNER_NAMESPACE = "repairman-system"
RUNNER = f"system:serviceaccount:{RUNNER_NAMESPACE}:repairman-runner"

# (API group, resource[/subresource], verb) the runner needs, and nothing more.
RUNNER_NEEDS = {
    (GROUP, "maintenancerequests", "list"),
    (GROUP, "maintenancerequests", "watch"),  # --until-stable's mirrors (runner.mirror)
    (GROUP, "maintenancerequests", "get"),  # is the request a cordon names over?
    (GROUP, "maintenancerequests", "delete"),
    (GROUP, "maintenancerequests/status", "patch"),
    (GROUP, "maintenancelimits", "list"),
    (GROUP, "maintenancelimits", "watch"),
    (GROUP, "maintenancelimits/status", "patch"),
    ("", "nodes", "list"),
    ("", "nodes", "watch"),
    ("", "nodes", "get"),
    ("", "nodes", "patch"),
    ("", "nodes/status", "patch"),  # the node lifecycle conditions (DESIGN §8)
    ("", "pods", "list"),
    ("", "namespaces", "list"),  # gates.blockingPods.namespaceSelector
    ("", "pods/eviction", "create"),
    ("policy", "poddisruptionbudgets", "list"),
    ("storage.k8s.io", "volumeattachments", "list"),
    ("apps", "deployments", "list"),
    ("apps", "statefulsets", "list"),
    ("apps", "daemonsets", "list"),
    ("", "events", "create"),
}
RUNNER_NAMESPACED_NEEDS = {
    ("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")
}
RUNNER_MUST_NOT = [
    ("", "pods", "get"),
    ("", "events", "patch"),
    (GROUP, "maintenancerequests/status", "update"),
    ("", "pods", "delete"),
    ("", "pods", "deletecollection"),
    ("", "secrets", "get"),
    ("", "secrets", "list"),
    ("", "nodes", "delete"),
    ("", "nodes", "update"),
    ("", "nodes/status", "update"),
    (GROUP, "maintenancerequests", "create"),
    (GROUP, "maintenancerequests", "update"),
    (GROUP, "maintenancerequests", "patch"),
    (GROUP, "maintenancelimits", "update"),
    (GROUP, "maintenancelimits", "delete"),
    ("", "pods", "create"),
]


def rbac_documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((ROOT / "k8s" / "rbac.yaml").read_text()) if d]


def granted(kind: str, name: str) -> set[tuple[str, str, str]]:
    for document in rbac_documents():
        if document["kind"] == kind and document["metadata"]["name"] == name:
            return {
                (group, resource, verb)
                for rule in document["rules"]
                for group in rule["apiGroups"]
                for resource in rule["resources"]
                for verb in rule["verbs"]
            }
    raise KeyError(name)


def may(
    control_plane: ControlPlane, user: str, grant: tuple[str, str, str], namespace: str = ""
) -> bool:
    """Would the API server's RBAC authorizer allow `user` this (group, resource, verb)?"""
    group, resource, verb = grant
    plain, _, sub = resource.partition("/")
    review = client.AuthorizationV1Api(control_plane.api).create_subject_access_review(
        client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=user,
                groups=["system:serviceaccounts", "system:authenticated"],
                resource_attributes=client.V1ResourceAttributes(
                    group=group,
                    resource=plain,
                    subresource=sub or None,
                    verb=verb,
                    namespace=namespace or None,
                ),
            )
        )
    )
    return bool(review.status.allowed)


@pytest.fixture
def actor(cluster: Cluster, control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    with actor_account(control_plane, cluster) as token:
        yield control_plane.client_for_token(token)


def forbidden(call: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(ApiException) as refused:
        call(*args, **kwargs)
    assert refused.value.status == 403, refused.value


def test_actor_files_requests_but_cannot_approve_cordon_or_evict(
    cluster: Cluster, actor: client.ApiClient
) -> None:
    node = cluster.node("w0")
    cluster.wait_nodes_ready([node])
    custom = client.CustomObjectsApi(actor)
    custom.create_cluster_custom_object(
        GROUP,
        VERSION,
        "maintenancerequests",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "MaintenanceRequest",
            "metadata": {"name": "mr-actor"},
            "spec": {"type": "node", "name": node, "requester": "test-actor"},
        },
    )
    custom.patch_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", "mr-actor", {"spec": {"state": "Completed"}}
    )
    assert custom.list_cluster_custom_object(GROUP, VERSION, "maintenancelimits")["items"] == []
    forbidden(
        custom.patch_cluster_custom_object_status,
        GROUP,
        VERSION,
        "maintenancerequests",
        "mr-actor",
        {"status": {"state": "Approved"}},
    )
    forbidden(client.CoreV1Api(actor).patch_node, node, {"spec": {"unschedulable": True}})
    forbidden(
        custom.create_cluster_custom_object,
        GROUP,
        VERSION,
        "maintenancelimits",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "MaintenanceLimit",
            "metadata": {"name": "mine"},
            "spec": {"limit": 100},
        },
    )
    cluster.deployment("web", 1)
    pod = cluster.running_ready("web", 1)[0].metadata.name
    actor_cluster = Cluster(actor, prefix=cluster.prefix, namespace=cluster.namespace)
    forbidden(actor_cluster.evict, pod)


def test_runner_role_grants_exactly_what_it_needs() -> None:
    assert granted("ClusterRole", "repairman-runner") == RUNNER_NEEDS
    assert granted("Role", "repairman-runner") == RUNNER_NAMESPACED_NEEDS


def test_runner_may_do_what_it_needs_and_nothing_else(control_plane: ControlPlane) -> None:
    for group, resource, verb in sorted(RUNNER_NEEDS):
        assert may(control_plane, RUNNER, (group, resource, verb)), (group, resource, verb)
    for group, resource, verb in sorted(RUNNER_NAMESPACED_NEEDS):
        assert may(control_plane, RUNNER, (group, resource, verb), RUNNER_NAMESPACE), (
            resource,
            verb,
        )
        assert not may(control_plane, RUNNER, (group, resource, verb), "default"), (resource, verb)
    for group, resource, verb in RUNNER_MUST_NOT:
        assert not may(control_plane, RUNNER, (group, resource, verb)), (group, resource, verb)


def test_runner_token_does_a_pass_worth_of_calls(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.deployment("web", 2)
    cluster.pdb("web", max_unavailable=1)
    pods = cluster.running_ready("web", 2)
    cluster.disruptions_allowed("web", 1)
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-runner", nodes[0])
    )
    runner = control_plane.client_for_token(
        token_for(control_plane, RUNNER_NAMESPACE, "repairman-runner")
    )
    as_runner = Cluster(runner, prefix=cluster.prefix, namespace=cluster.namespace)
    core, custom = client.CoreV1Api(runner), client.CustomObjectsApi(runner)
    assert core.list_node(label_selector=f"repairman.test/prefix={cluster.prefix}").items
    assert core.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={pods[0].spec.node_name}"
    ).items
    assert as_runner.raw("GET", "/apis/policy/v1beta1/poddisruptionbudgets")["items"]
    client.StorageV1Api(runner).list_volume_attachment()
    client.AppsV1Api(runner).list_deployment_for_all_namespaces()
    assert custom.list_cluster_custom_object(GROUP, VERSION, "maintenancerequests")["items"]
    custom.list_cluster_custom_object(GROUP, VERSION, "maintenancelimits")
    custom.patch_cluster_custom_object_status(
        GROUP,
        VERSION,
        "maintenancerequests",
        "mr-runner",
        {"status": {"state": "Pending", "reason": "NoLimit"}},
    )
    core.patch_node(
        nodes[0],
        {
            "metadata": {"annotations": {"repairman.k8s.io/cordoned-by": "mr-runner"}},
            "spec": {"unschedulable": True},
        },
    )
    as_runner.evict(pods[0].metadata.name)
    core.create_namespaced_event(
        "default",
        {
            "metadata": {"generateName": "mr-runner."},
            "involvedObject": {
                "kind": "MaintenanceRequest",
                "name": "mr-runner",
                "apiVersion": f"{GROUP}/{VERSION}",
            },
            "reason": "Test",
            "message": "runner can write events",
            "type": "Normal",
        },
    )
    forbidden(core.delete_namespaced_pod, pods[1].metadata.name, cluster.namespace)
    forbidden(core.list_namespaced_secret, RUNNER_NAMESPACE)
    forbidden(
        custom.patch_cluster_custom_object,
        GROUP,
        VERSION,
        "maintenancerequests",
        "mr-runner",
        {"spec": {"state": "Completed"}},
    )
    custom.delete_cluster_custom_object(GROUP, VERSION, "maintenancerequests", "mr-runner")
