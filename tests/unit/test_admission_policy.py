"""k8s/admission's ValidatingAdmissionPolicy, evaluated offline on admission requests.

Covers: who may touch a MaintenanceRequest. CREATE must record the creator (the
annotation equals the user); UPDATE and DELETE by the creator, an admin or the runner
only, never by another actor; the annotation never changes; a request without one
(filed before the policy) stays open; priority above the ceiling is refused unless from
an admin, or unless an update does not raise it; the status subresource is not matched;
a missing parameter key does not open the door. The requests here are built by hand in
the shape a 1.20 API server sends (AdmissionReview v1); the same policy on requests the
real server recorded is tests/integration/test_admission_recorded.py. What this proves
and what it does not: docs/operator.md, "Who may touch a request".
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.admission import documents, judge

ALICE = "system:serviceaccount:patching:os-patcher"
BOB = "system:serviceaccount:repair:node-doctor"
ADMIN = "jane@example.com"
RUNNER = "system:serviceaccount:repairman-system:repairman-runner"
CREATED_BY = "repairman.k8s.io/created-by"


def a_request(creator: str | None = ALICE, **spec: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "mr-worker-1-x7k2p"}
    if creator is not None:
        metadata["annotations"] = {CREATED_BY: creator}
    return {
        "apiVersion": "repairman.k8s.io/v1",
        "kind": "MaintenanceRequest",
        "metadata": metadata,
        "spec": {"type": "node", "name": "worker-1", "state": "Pending", "priority": 0, **spec},
    }


def review(
    operation: str,
    user: str,
    *,
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    groups: tuple[str, ...] = ("system:authenticated",),
    sub_resource: str = "",
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "uid": "0",
        "kind": {"group": "repairman.k8s.io", "version": "v1", "kind": "MaintenanceRequest"},
        "resource": {
            "group": "repairman.k8s.io",
            "version": "v1",
            "resource": "maintenancerequests",
        },
        "name": "mr-worker-1-x7k2p",
        "operation": operation,
        "userInfo": {"username": user, "groups": list(groups)},
        "object": new,
        "oldObject": old,
    }
    if sub_resource:
        request["subResource"] = sub_resource
    return request


def changed(obj: dict[str, Any], **spec: Any) -> dict[str, Any]:
    result = copy.deepcopy(obj)
    result["spec"].update(spec)
    return result


def without_creator(obj: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(obj)
    result["metadata"].pop("annotations", None)
    return result


def with_creator(obj: dict[str, Any], creator: str) -> dict[str, Any]:
    result = copy.deepcopy(obj)
    result["metadata"]["annotations"] = {CREATED_BY: creator}
    return result


MINE = a_request(ALICE)
LEGACY = a_request(None)
ADMINS = ("system:authenticated", "repairman-admins")

CASES = [
    # (what, review, allowed, part of the refusal)
    ("create recording oneself", review("CREATE", ALICE, new=MINE), True, ""),
    (
        "create without a creator",
        review("CREATE", ALICE, new=LEGACY),
        False,
        f"{CREATED_BY}: {ALICE}",
    ),
    ("create in another's name", review("CREATE", BOB, new=MINE), False, f"{CREATED_BY}: {BOB}"),
    (
        "admin creates in another's name",
        review("CREATE", ADMIN, new=MINE, groups=ADMINS),
        False,
        "",
    ),
    (
        "creator declares InProgress",
        review("UPDATE", ALICE, new=changed(MINE, state="InProgress"), old=MINE),
        True,
        "",
    ),
    (
        "creator withdraws",
        review("UPDATE", ALICE, new=changed(MINE, state="Completed"), old=MINE),
        True,
        "",
    ),
    ("creator deletes", review("DELETE", ALICE, old=MINE), True, ""),
    (
        "another completes it",
        review("UPDATE", BOB, new=changed(MINE, state="Completed"), old=MINE),
        False,
        f"filed by {ALICE}",
    ),
    ("another deletes it", review("DELETE", BOB, old=MINE), False, "may delete it"),
    (
        "another raises its priority",
        review("UPDATE", BOB, new=changed(MINE, priority=5), old=MINE),
        False,
        "may change it",
    ),
    (
        "admin completes it",
        review("UPDATE", ADMIN, new=changed(MINE, state="Completed"), old=MINE, groups=ADMINS),
        True,
        "",
    ),
    ("admin deletes it", review("DELETE", ADMIN, old=MINE, groups=ADMINS), True, ""),
    ("runner deletes a finished one", review("DELETE", RUNNER, old=MINE), True, ""),
    (
        "runner updates spec",
        review("UPDATE", RUNNER, new=changed(MINE, reason="x"), old=MINE),
        True,
        "",
    ),
    (
        "another strips the creator",
        review("UPDATE", BOB, new=without_creator(MINE), old=MINE),
        False,
        "filed by",
    ),
    (
        "creator strips the creator",
        review("UPDATE", ALICE, new=without_creator(MINE), old=MINE),
        False,
        "cannot be changed",
    ),
    (
        "creator hands it over",
        review("UPDATE", ALICE, new=with_creator(MINE, BOB), old=MINE),
        False,
        "cannot be changed",
    ),
    (
        "admin rewrites the creator",
        review("UPDATE", ADMIN, new=with_creator(MINE, ADMIN), old=MINE, groups=ADMINS),
        False,
        "cannot be changed",
    ),
    (
        "anyone updates a request filed before the policy",
        review("UPDATE", BOB, new=changed(LEGACY, state="Completed"), old=LEGACY),
        True,
        "",
    ),
    (
        "anyone deletes a request filed before the policy",
        review("DELETE", BOB, old=LEGACY),
        True,
        "",
    ),
    (
        "claiming a request filed before the policy",
        review("UPDATE", BOB, new=with_creator(LEGACY, BOB), old=LEGACY),
        False,
        "cannot be changed",
    ),
    (
        "priority at the ceiling",
        review("CREATE", ALICE, new=a_request(ALICE, priority=1000)),
        True,
        "",
    ),
    (
        "priority above the ceiling",
        review("CREATE", ALICE, new=a_request(ALICE, priority=2147483647)),
        False,
        "2147483647 is above 1000",
    ),
    (
        "creator raises above the ceiling",
        review("UPDATE", ALICE, new=changed(MINE, priority=1001), old=MINE),
        False,
        "above 1000",
    ),
    (
        "admin files above the ceiling",
        review("CREATE", ADMIN, new=a_request(ADMIN, priority=5000), groups=ADMINS),
        True,
        "",
    ),
    (
        "creator updates one an admin raised",
        review(
            "UPDATE",
            ALICE,
            new=changed(MINE, priority=5000, state="InProgress"),
            old=changed(MINE, priority=5000),
        ),
        True,
        "",
    ),
    (
        "creator raises one an admin raised",
        review("UPDATE", ALICE, new=changed(MINE, priority=5001), old=changed(MINE, priority=5000)),
        False,
        "above 1000",
    ),
    ("negative priority", review("CREATE", ALICE, new=a_request(ALICE, priority=-5)), True, ""),
    (
        "status is not matched",
        review("UPDATE", BOB, new=MINE, old=MINE, sub_resource="status"),
        True,
        "",
    ),
]


@pytest.mark.parametrize(
    ("what", "request_", "allowed", "fragment"), CASES, ids=[c[0] for c in CASES]
)
def test_who_may_touch_a_request(
    what: str, request_: dict[str, Any], allowed: bool, fragment: str
) -> None:
    verdict = judge(request_)
    assert verdict.allowed is allowed, verdict
    assert fragment in verdict.message, verdict


def test_missing_parameters_never_open_the_door() -> None:
    """Without adminGroup or runner in the parameters nobody is an admin or the runner;
    without maxPriority there is no ceiling (the operator removed it on purpose)."""
    params = documents()["ConfigMap"]
    bare = {**params, "data": {}}
    assert not judge(review("DELETE", ADMIN, old=MINE, groups=ADMINS), bare).allowed
    assert not judge(review("DELETE", RUNNER, old=MINE), bare).allowed
    assert judge(review("DELETE", ALICE, old=MINE), bare).allowed
    assert judge(review("CREATE", ALICE, new=a_request(ALICE, priority=5000)), bare).allowed


def test_the_shipped_parameters_name_the_runner_of_k8s() -> None:
    params = documents()["ConfigMap"]["data"]
    assert params["runner"] == RUNNER
    assert int(params["maxPriority"]) == 1000
