"""The manifests in k8s/, checked offline against a current Kubernetes schema.

Covers: every object in k8s/ (CRDs, RBAC, namespace, CronJob) validates strictly
against the latest schema kubernetes-validate ships (the CronJob stays batch/v1 although
the 1.20 test API server only serves batch/v1beta1); kustomization.yaml lists every
manifest; the CronJob pod meets the restricted Pod Security Standard and cannot
overlap itself; the CRDs' printer columns and defaults agree with DESIGN and with the
policy's defaults. That the API server accepts them is tests/integration/test_crds.py.
"""

from pathlib import Path
from typing import Any

import attrs
import kubernetes_validate
import pytest
import yaml

from policy import limit_spec, validation
from runner.lease import Lease

K8S = Path(__file__).parents[2] / "k8s"
MANIFESTS = sorted(
    p for p in K8S.rglob("*.yaml") if p.parent.name != "examples" and p.name != "kustomization.yaml"
)


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def crd(plural: str) -> dict[str, Any]:
    return documents(K8S / "crds" / f"{plural}.yaml")[0]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_is_valid_for_a_current_kubernetes(path: Path) -> None:
    for document in documents(path):
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize(
    "base",
    [K8S, K8S / "admission", K8S / "agent"],
    ids=["k8s", "k8s/admission", "k8s/agent"],
)
def test_kustomization_lists_every_manifest(base: Path) -> None:
    """k8s/ installs repairman; k8s/admission/ (Kubernetes >= 1.30) and k8s/agent/ (the
    reboot agent) are applied on their own, so the runner alone stays possible."""
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    own = [p for p in MANIFESTS if p.is_relative_to(base)]
    if base == K8S:
        own = [p for p in own if not p.is_relative_to(K8S / "admission")]
        own = [p for p in own if not p.is_relative_to(K8S / "agent")]
    assert sorted(kustomization["resources"]) == sorted(str(p.relative_to(base)) for p in own)


def test_cronjob_is_restricted_and_never_overlaps() -> None:
    (cronjob,) = documents(K8S / "cronjob.yaml")
    assert cronjob["apiVersion"] == "batch/v1"
    spec = cronjob["spec"]
    assert spec["schedule"] == "* * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] < 60
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[:2] == ["--until-stable", "--deadline"]
    assert float(args[2]) < spec["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    assert pod["serviceAccountName"] == "repairman-runner"
    # Dead (SIGKILL at the latest) before the Lease it took can expire.
    lease_seconds = attrs.fields(Lease).duration_seconds.default
    killed = spec["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    assert killed + pod["terminationGracePeriodSeconds"] < lease_seconds
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert "add" not in context["capabilities"]
        assert container["resources"]["limits"]["memory"]
        assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_printer_columns_follow_the_design() -> None:
    columns = crd("maintenancerequests")["spec"]["versions"][0]["additionalPrinterColumns"]
    shown = [c["name"] for c in columns if c.get("priority", 0) == 0]
    assert shown == ["Target", "Type", "Requester", "State", "Reason", "Age"]
    names = crd("maintenancerequests")["spec"]["names"]
    assert names["shortNames"] == ["mr"]
    assert crd("maintenancelimits")["spec"]["names"]["shortNames"] == ["ml"]


def test_crd_defaults_are_the_policy_defaults() -> None:
    spec = crd("maintenancelimits")["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
        "properties"
    ]["spec"]
    fields = spec["properties"]
    assert fields["approvedTimeoutSeconds"]["default"] == limit_spec.DEFAULT_APPROVED_TIMEOUT
    assert fields["inProgressTimeoutSeconds"]["default"] == limit_spec.DEFAULT_IN_PROGRESS_TIMEOUT
    assert fields["ttlSecondsAfterFinished"]["default"] == limit_spec.DEFAULT_TTL
    drain = limit_spec.DrainSpec()
    assert fields["drain"]["properties"]["timeoutSeconds"]["default"] == drain.timeout_seconds
    assert (
        fields["drain"]["properties"]["gracePeriodSeconds"]["default"] == drain.grace_period_seconds
    )
    assert (
        fields["drain"]["properties"]["skipWaitForDeleteTimeoutSeconds"]["default"]
        == drain.skip_wait_for_delete_timeout_seconds
    )
    infra = limit_spec.InfraDrainSpec()
    assert fields["infraDrain"]["properties"]["timeoutSeconds"]["default"] == infra.timeout_seconds
    assert (
        fields["infraDrain"]["properties"]["waitForVolumeDetach"]["default"]
        is infra.wait_for_volume_detach
    )
    request = crd("maintenancerequests")["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
        "properties"
    ]["spec"]
    assert request["properties"]["state"]["default"] == "Pending"
    assert request["properties"]["type"]["enum"] == [
        *validation.TARGET_TYPES,
        *validation.ORIGINAL_TARGET_TYPES,
    ]
    assert request["properties"]["state"]["enum"] == [
        *validation.ACTOR_STATES,
        *validation.ORIGINAL_ACTOR_STATES,
    ]


def test_crds_carry_the_approval_annotation_and_a_status_subresource() -> None:
    for plural in ("maintenancerequests", "maintenancelimits"):
        definition = crd(plural)
        annotation = definition["metadata"]["annotations"]["api-approved.kubernetes.io"]
        assert annotation.startswith("unapproved")
        assert definition["spec"]["scope"] == "Cluster"
        assert definition["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_the_agent_has_an_actors_rights_and_no_more() -> None:
    """Requests: create, get, list, watch, patch (no status, no delete); nodes: get."""
    role = next(d for d in documents(K8S / "agent" / "rbac.yaml") if d["kind"] == "ClusterRole")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {
        *(
            ("repairman.k8s.io", "maintenancerequests", verb)
            for verb in ("create", "get", "list", "watch", "patch")
        ),
        ("", "nodes", "get"),
    }
    (daemonset,) = documents(K8S / "agent" / "daemonset.yaml")
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "repairman-agent"
    (container,) = pod["containers"]
    assert container["command"] == ["repairman-agent"]
    assert {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in (
        container["env"]
    )
    assert all(mount.get("readOnly") for mount in container["volumeMounts"])
