"""The runner's RBAC is the least that works: remove any one rule and a pass fails,
naming the verb and the resource it was refused.

One scenario makes a single pass use every rule: it lists everything (a workload
request makes it list Deployments), writes request and limit status, cordons a node
(get + patch), evicts a pod, deletes a request past its TTL and uncordons the node
that request had cordoned (a GET of the request proves it gone first), writes events,
and takes its Lease; requests for a Deployment, a StatefulSet and a DaemonSet make it list
those. For each rule, the runner's ServiceAccount is bound to a copy of the role
without that rule, and the pass must fail (exit 1) with `forbidden: <verb> <resource>`
on stderr or in a failed decision's log line. A `watch` rule is needed by `--until-stable`, which
runs for those: refused, the run lists that kind every pass instead and logs
`watch-refused` naming the verb and the resource, once. Events are the exception the
runner allows itself: a refused Event is dropped (it is for humans), so removing that rule
must leave the pass successful and the cluster without the events. So is listing
namespaces, which only a gate's namespaceSelector needs: refused, the gate holds its
limit's admissions and its status says why. The Role for the
runner's Lease is checked the same way (a released Lease from an earlier pass makes
the pass need get and update; without one, create).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from kubernetes import client

from runner.cli import main
from tests.integration.cluster import Cluster
from tests.integration.conftest import (
    GROUP,
    ROOT,
    VERSION,
    ControlPlane,
    kubeconfig_with,
    token_for,
)
from tests.integration.test_runner import limit_body, request_body


def rules_of(kind: str) -> list[tuple[str, str, str]]:
    return [
        (group, resource, verb)
        for document in yaml.safe_load_all((ROOT / "k8s" / "rbac.yaml").read_text())
        if document
        and document["kind"] == kind
        and document["metadata"]["name"] == "repairman-runner"
        for rule in document["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    ]


RULES = rules_of("ClusterRole")
LEASE_RULES = rules_of("Role")


def role_without(
    rules: list[tuple[str, str, str]], missing: tuple[str, str, str]
) -> list[dict[str, Any]]:
    return [
        {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
        for group, resource, verb in rules
        if (group, resource, verb) != missing
    ]


def scenario(cluster: Cluster) -> None:
    nodes = cluster.nodes(3)
    cluster.wait_nodes_ready(nodes)
    cluster.deployment("web", 1)
    pod = cluster.running_ready("web", 1)[0]
    custom = cluster.custom
    custom.create_cluster_custom_object(
        GROUP,
        VERSION,
        "maintenancelimits",
        limit_body("node", limit=100, drain={"timeoutSeconds": 600}, ttlSecondsAfterFinished=60),
    )
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancelimits", limit_body("deployment", limit=100)
    )
    # A limit that governs no node, with a blocking-pods gate to read (pods, namespaces).
    gates = {
        "blockingPods": {
            "selector": {"matchLabels": {"app": "backup"}},
            "namespaceSelector": {"matchLabels": {"team": "storage"}},
        }
    }
    gated = limit_body("gated", limit=100, selector={"matchLabels": {"zone": "none"}}, gates=gates)
    gated["spec"]["type"] = "node"
    custom.create_cluster_custom_object(GROUP, VERSION, "maintenancelimits", gated)
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-drain", pod.spec.node_name)
    )
    cluster.statefulset("db", 1)
    cluster.daemonset("agent")
    for kind, workload in (("deployment", "web"), ("statefulset", "db"), ("daemonset", "agent")):
        if kind != "deployment":
            custom.create_cluster_custom_object(
                GROUP, VERSION, "maintenancelimits", limit_body(kind, limit=100)
            )
        body = request_body(f"mr-{workload}", f"{cluster.namespace}/{workload}")
        body["spec"]["type"] = kind
        custom.create_cluster_custom_object(GROUP, VERSION, "maintenancerequests", body)
    custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body("mr-old", nodes[-1])
    )
    cluster.core.patch_node(
        nodes[-1],
        {
            "spec": {"unschedulable": True},
            "metadata": {"annotations": {"repairman.k8s.io/cordoned-by": "mr-old"}},
        },
    )
    custom.patch_cluster_custom_object_status(
        GROUP,
        VERSION,
        "maintenancerequests",
        "mr-old",
        {
            "status": {
                "state": "Rejected",
                "reason": "InvalidSpec",
                "finishedAt": "2026-01-01T00:00:00Z",
            }
        },
    )


@pytest.mark.parametrize(
    "missing", RULES + LEASE_RULES, ids=lambda r: f"{r[2]}-{r[1]}".replace("/", "-")
)
def test_each_rule_is_needed(
    missing: tuple[str, str, str], cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    scenario(cluster)
    rbac = client.RbacAuthorizationV1Api(control_plane.api)
    core = client.CoreV1Api(control_plane.api)
    name = f"{cluster.prefix}-runner"
    core.create_namespaced_service_account(cluster.namespace, {"metadata": {"name": "runner"}})
    rbac.create_cluster_role({"metadata": {"name": name}, "rules": role_without(RULES, missing)})
    subject = [{"kind": "ServiceAccount", "name": "runner", "namespace": cluster.namespace}]
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}
    rbac.create_cluster_role_binding(
        {"metadata": {"name": name}, "roleRef": ref, "subjects": subject}
    )
    # Its Lease lives in the test's namespace, under k8s/rbac.yaml's Role (less `missing`).
    rbac.create_namespaced_role(
        cluster.namespace,
        {"metadata": {"name": "lease"}, "rules": role_without(LEASE_RULES, missing)},
    )
    rbac.create_namespaced_role_binding(
        cluster.namespace,
        {
            "metadata": {"name": "lease"},
            "roleRef": {**ref, "kind": "Role", "name": "lease"},
            "subjects": subject,
        },
    )
    if missing[2] != "create":
        # A released Lease from an earlier pass, so that taking it needs get and update.
        cluster.raw(
            "POST",
            f"/apis/coordination.k8s.io/v1/namespaces/{cluster.namespace}/leases",
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "repairman-runner"},
                "spec": {"leaseDurationSeconds": 60},
            },
        )
    token = token_for(control_plane, cluster.namespace, "runner")
    kubeconfig = kubeconfig_with(control_plane, token, tmp_path / "kubeconfig")
    # A watch is needed by --until-stable's passes after its first (runner.mirror).
    until_stable = ["--until-stable", "--deadline", "3"] if missing[2] == "watch" else []
    try:
        result = CliRunner().invoke(
            main,
            [
                "--kubeconfig",
                str(kubeconfig),
                "--lease-namespace",
                cluster.namespace,
                *until_stable,
            ],
        )
    finally:
        rbac.delete_cluster_role_binding(name)
        rbac.delete_cluster_role(name)
    _, resource, verb = missing
    if resource == "events":
        assert result.exit_code == 0, result.stderr
        uid = cluster.custom.get_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", "mr-web"
        )["metadata"]["uid"]
        events = core.list_namespaced_event(
            "default", field_selector=f"involvedObject.uid={uid}"
        ).items
        assert events == []
        return
    if resource == "namespaces":
        # A gate that cannot be read holds its limit's admissions, and says why; the
        # pass goes on (runner.gates, fail closed).
        assert result.exit_code == 0, result.stderr
        gated = cluster.custom.get_cluster_custom_object(
            GROUP, VERSION, "maintenancelimits", "gated"
        )
        assert f"forbidden: {verb} {resource}" in gated["status"]["message"], gated["status"]
        assert gated["status"]["held"] == "gate"
        return
    if verb == "watch":
        # Refused, the run lists that kind every pass instead, as before it had
        # mirrors, and says so once.
        assert result.exit_code == 0, result.stderr
        refused = [
            json.loads(line)
            for line in result.stderr.splitlines()
            if line.startswith("{") and json.loads(line)["event"] == "watch-refused"
        ]
        assert [r["error"].split(":")[:2] for r in refused] == [
            ["forbidden", f" {verb} {resource}"]
        ], result.stderr
        return
    assert result.exit_code == 1, result.stderr
    assert f"forbidden: {verb} {resource}" in result.stderr, result.stderr
