"""repairman's CRDs on a real API server: installed, served, validating, defaulting.

Covers: `kubectl apply -k k8s/` installs both CRDs, which become Established and report
the expected API-approval condition; short names and printer columns; every example
in k8s/examples is accepted and defaulted; everything the policy rejects that a schema can
express (tests/rejections.py: enums, ranges up to 2^31-1, label values, selector
operators with and without values, names per target type, time zone shape and length)
is refused by the API server naming the field, and every edge case the policy accepts
is admitted; status is a subresource (a spec write cannot set it). The
1.20 API server ignores CEL rules, so those are evaluated offline in
tests/unit/test_crd_rules.py; the offline manifest checks are in
tests/unit/test_manifests.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.integration.cluster import Cluster, wait_until
from tests.integration.conftest import GROUP, ROOT, VERSION, ControlPlane
from tests.rejections import (
    ACCEPTED_LIMITS,
    ACCEPTED_REQUESTS,
    GOOD_LIMIT,
    GOOD_REQUEST,
    LIMIT_NAME,
    LIMIT_REJECTIONS,
    REQUEST_REJECTIONS,
    RefusedBy,
)

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
    # The API server publishes a new CRD's OpenAPI a while after it is Established.
    explained = wait_until(
        "kubectl explain to know MaintenanceLimit",
        lambda: (
            control_plane.kubectl("explain", "maintenancelimits.spec.drain", check=False).stdout
        ),
    )
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


def _admit(cluster: Cluster, kind: str, name: str, spec: dict[str, Any]) -> ApiException | None:
    """Create the object and delete it again; the API server's refusal, if any."""
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}}
    try:
        create(cluster, {**body, "spec": spec})
    except ApiException as refused:
        return refused
    cluster.custom.delete_cluster_custom_object(GROUP, VERSION, plural_of(kind), name)
    return None


TABLES = {
    "MaintenanceRequest": ("mr-bad", GOOD_REQUEST, REQUEST_REJECTIONS, ACCEPTED_REQUESTS),
    "MaintenanceLimit": (LIMIT_NAME, GOOD_LIMIT, LIMIT_REJECTIONS, ACCEPTED_LIMITS),
}


@pytest.mark.parametrize("kind", TABLES)
def test_what_the_policy_rejects_is_refused_at_admission(cluster: Cluster, kind: str) -> None:
    """The policy's own rejection table (tests/rejections.py), fed through the real API
    server: every row the CRD's schema is said to refuse is refused (422, naming the
    field), every row only the policy can judge is admitted (so the table says honestly
    where admission stops), and every edge case the policy accepts is admitted. CEL rows
    are admitted by 1.20, which ignores CEL: tests/unit/test_crd_rules.py."""
    name, good, rejections, accepted = TABLES[kind]
    wrong = []
    for row in rejections:
        refused = _admit(cluster, kind, name, row.spec(good))
        if row.refused_by is RefusedBy.SCHEMA:
            if refused is None:
                wrong.append(f"admitted, the policy rejects: {row.id}")
            elif refused.status != 422 or row.server_field not in refused.body:
                wrong.append(f"refused without naming {row.server_field}: {row.id}: {refused.body}")
        elif row.refused_by is RefusedBy.POLICY and refused is not None:
            wrong.append(f"now refused at admission, say so in the table: {row.id}")
    for spec in accepted:
        refused = _admit(cluster, kind, name, spec)
        if refused is not None:
            wrong.append(f"refused, the policy accepts: {spec}: {refused.body}")
    assert not wrong, "\n".join(wrong)


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
