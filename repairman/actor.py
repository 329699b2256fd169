"""The actor's side of the protocol, for Python: ask, wait, work, say done.

    import repairman

    with repairman.maintenance("worker-17", requester="kernel-patcher",
                               reason="kernel 6.8", timeout=3600) as request:
        patch_and_reboot("worker-17")      # runs only once the node is approved

On entry a MaintenanceRequest is filed (`spec.state: Pending`) and the call waits until
the runner sets `status.state: Approved` — reporting every change of the explanation
through `progress` — then declares `InProgress`. A normal exit declares `Completed`.
An exception inside the block also ends the request (`Completed`: the slot is freed and
the node uncordoned) and is re-raised; a failure before approval (timeout, Ctrl-C)
withdraws the request. If the runner ends the request instead (Rejected, Expired), the
wait raises `MaintenanceRefused` with its reason.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from policy.fields import FieldError, shown
from policy.validation import parse_request_spec
from runner.kube import Kube, KubeError
from runner.read import GROUP_PATH

REQUESTS = f"{GROUP_PATH}/maintenancerequests"
SELF_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
CREATED_BY = "repairman.k8s.io/created-by"
"""Who filed a request: k8s/admission's policy lets only them (and admins) change it."""
MERGE = "application/merge-patch+json"
TERMINAL = frozenset({"Completed", "Rejected", "Expired"})


class MaintenanceError(Exception):
    """The request could not be carried through; `str()` is one line."""


class MaintenanceRefused(MaintenanceError):
    """The runner ended the request before approving it."""

    def __init__(self, name: str, state: str, reason: str, message: str) -> None:
        super().__init__(f"{name} {state} ({reason}): {message}")
        self.state, self.reason = state, reason


class MaintenanceTimeout(MaintenanceError):
    """Not approved in time; the request has been withdrawn."""


class InvalidRequest(MaintenanceError, ValueError):
    """What the actor asks for is not a valid request (the policy would reject it);
    nothing was sent."""


class TargetNotFound(MaintenanceError):
    """The target does not exist (checked before filing, when the actor may read it)."""


_REQUEST_KINDS = frozenset(
    {"mr", "maintenancerequest", "maintenancerequests"}
    | {f"{kind}.repairman.k8s.io" for kind in ("maintenancerequest", "maintenancerequests")}
)


MAX_NAME = 253
_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
"""A Kubernetes object name (a DNS subdomain), which is all a request's name can be."""


def request_name(reference: str) -> str:
    """A request's name from what kubectl and `kubectl repairman request` print and
    accept: `NAME`, `mr/NAME`, `maintenancerequest/NAME`,
    `maintenancerequest.repairman.k8s.io/NAME`. ValueError for anything else."""
    kind, slash, name = reference.rpartition("/")
    if not name:
        raise ValueError(f"{shown(reference)} names no request")
    if slash and kind.lower() not in _REQUEST_KINDS:
        raise ValueError(f"{shown(reference)} is not a MaintenanceRequest (use NAME or mr/NAME)")
    if not _OBJECT_NAME.fullmatch(name):
        # It goes into an API path: '?', '%' or '..' would ask for something else.
        raise ValueError(
            f"{shown(name)} is not a request name (lowercase letters, digits, '-', '.')"
        )
    if len(name) > MAX_NAME:
        raise ValueError(f"a request name has at most {MAX_NAME} characters, not {len(name)}")
    return name


@attrs.define
class Request:
    """A MaintenanceRequest as the actor sees it. The repr names the request and the
    server, never the credentials."""

    kube: Kube
    name: str = attrs.field(converter=request_name)
    approved: dict[str, Any] | None = attrs.field(default=None, repr=False)
    """The object as last read Approved (`wait_for_approval`): what `begin` starts."""

    def get(self) -> dict[str, Any]:
        return self.kube.request("GET", f"{REQUESTS}/{self.name}")

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.get().get("status") or {})

    def declare(self, state: str, *, resource_version: str | None = None) -> None:
        """Set spec.state: Pending, InProgress or Completed (Completed early withdraws).
        With `resource_version`, only if the object (its status too) is as read then:
        a KubeError with status 409 otherwise."""
        body: dict[str, Any] = {"spec": {"state": state}}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        self.kube.request("PATCH", f"{REQUESTS}/{self.name}", body=body, content_type=MERGE)

    def wait_for_approval(
        self,
        *,
        timeout: float,
        poll: float = 2.0,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Block until status.state is Approved; returns the status."""
        _positive("timeout", timeout)
        _positive("poll", poll)
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            seen = self.get()
            status = dict(seen.get("status") or {})
            state = status.get("state") or "Pending"
            why = status.get("reason") or "new"
            line = f"{self.name}: {state} ({why}) {status.get('message', '')}"
            if progress is not None and line != last:
                progress(line.rstrip())
            last = line
            if state == "Approved":
                self.approved = seen
                return status
            if state in TERMINAL:
                raise MaintenanceRefused(
                    self.name, state, status.get("reason", ""), status.get("message", "")
                )
            if time.monotonic() >= deadline:
                raise MaintenanceTimeout(
                    f"{self.name} not approved within {timeout:g} s (last: {state}, "
                    f"{status.get('reason') or 'no reason yet'})"
                )
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


def check_wait(timeout: float, poll: float = 2.0) -> None:
    """ValueError unless both are finite and above 0 (checked before anything is filed)."""
    _positive("timeout", timeout)
    _positive("poll", poll)


def _positive(name: str, seconds: float) -> None:
    """A wait must be finite and above 0: NaN compares false with every deadline (the
    loop then polled without sleeping), infinity never ends."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"{name} must be a number of seconds, not {seconds!r}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{name} must be a finite number of seconds above 0, not {seconds!r}")


_TARGET_PATHS = {
    "node": "/api/v1/nodes/{name}",
    "deployment": "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
    "statefulset": "/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}",
    "daemonset": "/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}",
}


def check_target(kube: Kube, target: str, type_: str) -> None:
    """Raise TargetNotFound when the target can be read and is not there. An actor
    without permission to read it (403), or a name the runner will judge itself (a
    malformed or unknown type), files as before: the pass rejects it then."""
    template = _TARGET_PATHS.get(type_.lower())
    namespace, _, name = target.rpartition("/")
    if template is None or not name or (type_.lower() == "node") == bool(namespace):
        return
    try:
        kube.request("GET", template.format(namespace=namespace, name=name))
    except KubeError as error:
        if error.status == 404:
            raise TargetNotFound(
                f"{type_.lower()} {target} does not exist: no request filed"
            ) from None
        if error.status == 403:
            return
        raise


def username(kube: Kube) -> str | None:
    """Who the API server says the caller is (a SelfSubjectReview, as `kubectl auth
    whoami`; Kubernetes >= 1.28). None where it cannot say: an older server cannot run
    the admission policy that reads the answer either."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        review = kube.request("POST", SELF_REVIEWS, body=body)
    except KubeError as error:
        if error.status in (403, 404):
            return None
        raise
    user = (review.get("status") or {}).get("userInfo") or {}
    name = user.get("username")
    return name if isinstance(name, str) and name else None


def file_request(
    kube: Kube,
    target: str,
    *,
    type_: str = "node",
    requester: str = "",
    reason: str = "",
    priority: int = 0,
    not_before: str = "",
    deadline: str = "",
    check: bool = True,
    labels: dict[str, str] | None = None,
    name: str = "",
) -> Request:
    """Create a MaintenanceRequest named after its target (`mr-<target>-<random>`, or
    `name`: a second create of it is refused, 409),
    annotated with who files it (CREATED_BY) where the server can say. With `check`, a
    target that the actor may read and that is not there is refused at once
    (TargetNotFound) instead of a pass later."""
    spec: dict[str, Any] = {"type": type_, "name": target, "state": "Pending", "priority": priority}
    if requester:
        spec["requester"] = requester
    if reason:
        spec["reason"] = reason
    if not_before:
        spec["notBefore"] = not_before
    if deadline:
        spec["deadline"] = deadline
    judged = parse_request_spec(spec)
    if isinstance(judged, FieldError):
        raise InvalidRequest(f"not filed: {judged}")
    if check:
        check_target(kube, target, type_)
    stem = target.replace("/", "-")[:40].rstrip("-.")
    metadata: dict[str, Any] = {"name": name} if name else {"generateName": f"mr-{stem}-"}
    if labels:
        metadata["labels"] = dict(labels)
    creator = username(kube)
    if creator is not None:
        metadata["annotations"] = {CREATED_BY: creator}
    body: dict[str, Any] = {
        "apiVersion": "repairman.k8s.io/v1",
        "kind": "MaintenanceRequest",
        "metadata": metadata,
        "spec": spec,
    }
    created = kube.request("POST", REQUESTS, body=body)
    return Request(kube, created["metadata"]["name"])


@contextmanager
def maintenance(
    target: str,
    *,
    requester: str,
    reason: str = "",
    type_: str = "node",
    priority: int = 0,
    timeout: float = 3600.0,
    poll: float = 2.0,
    progress: Callable[[str], None] | None = print,
    kubeconfig: str | None = None,
    context: str | None = None,
    kube: Kube | None = None,
) -> Iterator[Request]:
    """File a request, wait for approval, and carry it through (see the module)."""
    _positive("timeout", timeout)
    _positive("poll", poll)
    kube = kube or Kube.connect(kubeconfig=kubeconfig, context=context)
    request = file_request(
        kube, target, type_=type_, requester=requester, reason=reason, priority=priority
    )
    try:
        request.wait_for_approval(timeout=timeout, poll=poll, progress=progress)
        begin(request)
    except BaseException:
        _withdraw(request, progress)
        raise
    try:
        yield request
    finally:
        request.declare("Completed")


def begin(request: Request) -> None:
    """Declare InProgress on the approval as read, and only on it (DESIGN §2 step 3).

    The write carries the resourceVersion of the object read Approved: if the runner
    wrote its status since (the approval expired, its node was uncordoned), the write
    fails with 409 and the object is read again — a new explanation of the same
    approval is started, anything else refuses. Read back after the write, the request
    must still be under that approval: nothing is run on a stale one."""
    seen = request.approved or request.get()
    first = seen.get("status") or {}
    if (first.get("state") or "Pending") != "Approved":
        raise MaintenanceError(
            f"{request.name} is {first.get('state') or 'Pending'}: start needs it Approved"
        )
    approved_at = first.get("approvedAt")
    for _ in range(5):
        status = seen.get("status") or {}
        state = status.get("state") or "Pending"
        if state != "Approved" or status.get("approvedAt") != approved_at:
            raise MaintenanceRefused(
                request.name,
                state,
                status.get("reason", ""),
                f"no longer under the approval of {approved_at or 'its read'}: "
                f"{status.get('message', '')}",
            )
        try:
            request.declare("InProgress", resource_version=seen["metadata"]["resourceVersion"])
        except KubeError as error:
            if error.status != 409:
                raise
            seen = request.get()
            continue
        break
    else:
        raise MaintenanceError(f"{request.name} kept changing; not started")
    back = request.get()
    status = back.get("status") or {}
    if (status.get("state") not in ("Approved", "InProgress")) or status.get(
        "approvedAt"
    ) != approved_at:
        raise MaintenanceRefused(
            request.name,
            status.get("state") or "Pending",
            status.get("reason", ""),
            "the approval ended while it was being started",
        )


def _withdraw(request: Request, progress: Callable[[str], None] | None) -> None:
    """Withdraw after a failure before the work; the original error is re-raised by
    the caller, so a failure here is only told (through `progress`), never raised."""
    try:
        if (request.status.get("state") or "Pending") not in TERMINAL:
            request.declare("Completed")
    except KubeError as error:
        if progress is not None:
            progress(
                f"{request.name} NOT withdrawn ({error}): it stays queued; withdraw it with "
                f"`kubectl repairman withdraw {request.name}`"
            )
