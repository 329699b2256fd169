"""Make the 1.20 test API server look like a later one on the wire (for the fault proxy).

The test control plane is 1.20: PodDisruptionBudgets and Evictions in policy/v1beta1
only. Kubernetes moved both to policy/v1, not at the same time:

- `Kube121`: PDBs served in policy/v1 (and v1beta1), but `pods/eviction` still takes
  policy/v1beta1 only — an Eviction in policy/v1 is answered 400, as 1.21 does.
- `Current`: policy/v1 only (1.25+): no policy/v1beta1 in discovery, its paths 404;
  `pods/eviction` names policy/v1.

Requests for policy/v1 are rewritten to v1beta1 for the real server, and answers back
(discovery documents, `apiVersion` fields). Every Eviction's apiVersion is recorded.

With a `reviewer_token` (an admin's), a SelfSubjectReview (authentication.k8s.io/v1,
1.28+: `kubectl auth whoami`) is answered from a TokenReview of the caller's own bearer
token made with that token: the real API server's authenticator says who the caller
is, the proxy only reshapes its answer (FaultProxy._self_review).

What it cannot prove: anything the server does differently, not just says differently
— policy/v1's meaning of an empty PDB selector (every pod of the namespace, where
v1beta1 selects none) is computed by the 1.20 disruption controller the v1beta1 way;
`unhealthyPodEvictionPolicy` and other v1-only fields are dropped by the 1.20 server.
The runner's own reading of an empty v1 selector is table-tested in tests/unit.
"""

from __future__ import annotations

import json
import re
from typing import Any

V1, V1BETA1 = "policy/v1", "policy/v1beta1"
_EVICTION = re.compile(r"^/api/v1/namespaces/[^/]+/pods/[^/]+/eviction$")


def _status(code: int, reason: str, message: str) -> bytes:
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
    ).encode()


class Translation:
    """Base: policy/v1 served for PDBs; subclasses say what else."""

    eviction_version = V1BETA1
    v1beta1_served = True

    def __init__(self, reviewer_token: str = "") -> None:
        self.reviewer_token = reviewer_token
        """An admin's token for TokenReviews; empty: SelfSubjectReviews are relayed (404)."""
        self.evictions: list[str] = []
        """The apiVersion of every Eviction the client sent."""
        self.paths: list[str] = []
        """Every policy path the client asked for, as it asked."""

    # --- requests -------------------------------------------------------------------

    def request(
        self, method: str, path: str, body: bytes | None
    ) -> tuple[str, bytes | None, tuple[int, bytes] | None]:
        """(path for the real server, body for it, or an answer to give at once)."""
        bare = path.split("?", 1)[0]
        if bare.startswith("/apis/policy/"):
            self.paths.append(path)
        if bare.startswith("/apis/policy/v1beta1") and not self.v1beta1_served:
            return path, body, (404, _status(404, "NotFound", "the server could not find it"))
        if bare == "/apis/policy/v1" or bare.startswith("/apis/policy/v1/"):
            path = path.replace("/apis/policy/v1", "/apis/policy/v1beta1", 1)
        if method == "POST" and _EVICTION.match(bare) and body:
            sent: dict[str, Any] = json.loads(body)
            version = str(sent.get("apiVersion", ""))
            self.evictions.append(version)
            if version != self.eviction_version and not (
                version == V1BETA1 and self.v1beta1_served
            ):
                message = f'no kind "Eviction" is registered for version "{version}"'
                return path, body, (400, _status(400, "BadRequest", message))
            sent["apiVersion"] = V1BETA1
            body = json.dumps(sent).encode()
        return path, body, None

    # --- answers --------------------------------------------------------------------

    def response(self, path: str, code: int, data: bytes) -> bytes:
        if code >= 400 or not data:
            return data
        try:
            document = json.loads(data)
        except ValueError:
            return data
        bare = path.split("?", 1)[0]
        if bare == "/apis":
            for group in document.get("groups") or []:
                if group.get("name") == "policy":
                    self._group(group)
        elif bare == "/apis/policy":
            self._group(document)
        elif bare == "/api/v1":
            for resource in document.get("resources") or []:
                if resource.get("name") == "pods/eviction":
                    resource["group"], resource["version"] = self.eviction_version.split("/")
        if bare.startswith("/apis/policy/v1") and not bare.startswith("/apis/policy/v1beta1"):
            document = self._as_v1(document)
        return json.dumps(document).encode()

    def _group(self, group: dict[str, Any]) -> None:
        v1 = {"groupVersion": V1, "version": "v1"}
        beta = {"groupVersion": V1BETA1, "version": "v1beta1"}
        group["versions"] = [v1, beta] if self.v1beta1_served else [v1]
        group["preferredVersion"] = v1

    def _as_v1(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: (V1 if k in ("apiVersion", "groupVersion") and v == V1BETA1 else self._as_v1(v))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._as_v1(v) for v in value]
        return value


class Kube121(Translation):
    """1.21: PDBs in policy/v1 and v1beta1; Evictions in policy/v1beta1 only."""


class Current(Translation):
    """1.25 and later: policy/v1 only, Evictions included."""

    eviction_version = V1
    v1beta1_served = False
