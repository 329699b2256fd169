"""repairman's CRDs on a real API server: installed, served, validating, defaulting.

Covers: `kubectl apply -k k8s/` installs both CRDs, which become Established and report
the expected API-approval condition; short names and printer columns; every example
in k8s/examples is accepted and defaulted; malformed objects (bad enum, limit 101,
missing spec.name, wrong types, bad window times) are refused by the API server with a
message naming the field; status is a subresource (a spec write cannot set it). The
1.20 API server ignores CEL rules, so those are left out here; the offline manifest
checks are in tests/unit/test_manifests.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.integration.cluster import Cluster
from tests.integration.conftest import GROUP, ROOT, VERSION, ControlPlane

EXAMPLES = sorted((ROOT / "k8s" / "examples").glob("*.yaml"))


def plural_of(kind: str) -> str:
    return {"MaintenanceRequest": "maintenancerequests", "MaintenanceLimit": "maintenancelimits"}[
        kind
    ]


def create(cluster: Cluster, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, plural_of(body["kind"]), body
    )
    return created


def test_crds_are_established_with_the_approval_annotation(control_plane: ControlPlane) -> None:
    extensions = client.ApiextensionsV1Api(control_plane.api)
    for plural in ("maintenancerequests", "maintenancelimits"):
        crd = extensions.read_custom_resource_definition(f"{plural}.{GROUP}")
        conditions = {c.type: c.status for c in crd.status.conditions}
        assert conditions["Established"] == "True"
        assert conditions["NamesAccepted"] == "True"
        assert conditions["KubernetesAPIApprovalPolicyConformant"] == "False"
        assert crd.metadata.annotations["api-approved.kubernetes.io"].startswith("unapproved")


def test_short_names_and_printer_columns(cluster: Cluster, control_plane: ControlPlane) -> None:
    create(
        cluster,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "MaintenanceRequest",
            "metadata": {"name": "mr-columns"},
            "spec": {"type": "node", "name": "worker-1", "requester": "os-patcher"},
        },
    )
    table = control_plane.kubectl("get", "mr").stdout
    header = table.splitlines()[0].split()
    assert header == ["NAME", "TARGET", "TYPE", "REQUESTER", "STATE", "REASON", "AGE"]
    assert "mr-columns" in table and "worker-1" in table and "os-patcher" in table
    assert "MESSAGE" in control_plane.kubectl("get", "mr", "-o", "wide").stdout
    assert "ALLOWED" in control_plane.kubectl("get", "ml").stdout or "No resources" in (
        control_plane.kubectl("get", "ml").stderr
    )
    explained = control_plane.kubectl("explain", "maintenancelimits.spec.drain").stdout
    assert "Evict the node's pods before approval" in explained


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_accepted_and_defaulted(cluster: Cluster, path: Path) -> None:
    body = yaml.safe_load(path.read_text())
    created = create(cluster, body)
    spec = created["spec"]
    if body["kind"] == "MaintenanceRequest":
        assert spec["state"] == body["spec"].get("state", "Pending")
        assert spec["priority"] == body["spec"].get("priority", 0)
    else:
        assert spec["approvedTimeoutSeconds"] == body["spec"].get("approvedTimeoutSeconds", 3600)
        assert spec["ttlSecondsAfterFinished"] == 86400
        if "drain" in spec:
            assert spec["drain"]["force"] is False


GOOD_REQUEST = {"type": "node", "name": "worker-1"}
GOOD_LIMIT = {"type": "node", "limit": 10}


@pytest.mark.parametrize(
    ("kind", "spec", "field"),
    [
        ("MaintenanceRequest", {**GOOD_REQUEST, "type": "nodes"}, "spec.type"),
        ("MaintenanceRequest", {"type": "node"}, "spec.name"),
        ("MaintenanceRequest", {**GOOD_REQUEST, "name": "Worker_1"}, "spec.name"),
        ("MaintenanceRequest", {**GOOD_REQUEST, "state": "Done"}, "spec.state"),
        ("MaintenanceRequest", {**GOOD_REQUEST, "priority": "high"}, "spec.priority"),
        ("MaintenanceRequest", {**GOOD_REQUEST, "reason": "x" * 1025}, "spec.reason"),
        ("MaintenanceLimit", {**GOOD_LIMIT, "limit": 101}, "spec.limit"),
        ("MaintenanceLimit", {**GOOD_LIMIT, "limit": "5"}, "spec.limit"),
        ("MaintenanceLimit", {"type": "node"}, "spec"),
        ("MaintenanceLimit", {**GOOD_LIMIT, "policies": ["Cordoned"]}, "spec.policies"),
        (
            "MaintenanceLimit",
            {**GOOD_LIMIT, "drain": {"timeoutSeconds": 0}},
            "spec.drain.timeoutSeconds",
        ),
        (
            "MaintenanceLimit",
            {**GOOD_LIMIT, "windows": [{"start": "25:00", "end": "02:00"}]},
            "spec.windows.start",
        ),
        (
            "MaintenanceLimit",
            {**GOOD_LIMIT, "windows": [{"start": "01:00", "end": "2", "days": ["Funday"]}]},
            "spec.windows.days",
        ),
        ("MaintenanceLimit", {**GOOD_LIMIT, "cordon": "yes"}, "spec.cordon"),
    ],
)
def test_malformed_objects_are_refused_naming_the_field(
    cluster: Cluster, kind: str, spec: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApiException) as refused:
        create(
            cluster,
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": kind,
                "metadata": {"name": "bad"},
                "spec": spec,
            },
        )
    assert refused.value.status == 422
    assert field in refused.value.body, refused.value.body


def test_status_is_a_subresource(cluster: Cluster) -> None:
    created = create(
        cluster,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "MaintenanceRequest",
            "metadata": {"name": "mr-status"},
            "spec": GOOD_REQUEST,
            "status": {"state": "Approved"},
        },
    )
    assert "status" not in created or not created["status"].get("state")
    created["status"] = {"state": "Approved"}
    replaced = cluster.custom.replace_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", "mr-status", created
    )
    assert not (replaced.get("status") or {}).get("state")
    written = cluster.custom.patch_cluster_custom_object_status(
        GROUP,
        VERSION,
        "maintenancerequests",
        "mr-status",
        {"status": {"state": "Pending", "reason": "NoLimit"}},
    )
    assert written["status"]["state"] == "Pending"
