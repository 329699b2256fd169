"""A coordination.k8s.io Lease so that overlapping passes do not do the same work twice.

The CronJob forbids concurrent jobs, but a pass started by hand, a second installation
or a job the kubelet lost track of can still overlap. A pass takes the Lease
`repairman-runner` in its namespace before writing; another holder's unexpired lease
makes the pass stop early, logged, with success. A lease whose holder died (not
renewed within its duration) is taken over. Every write is guarded by the Lease's
resourceVersion, so two runners cannot both believe they took it.

The Lease is an optimisation, not the safety mechanism: the commit point of every
admission (runner/apply.py) stays correct when two passes run at once anyway.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from runner.kube import Kube, KubeError

LEASE_NAME = "repairman-runner"
MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"


def identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


@attrs.define
class Lease:
    kube: Kube
    namespace: str
    holder: str = attrs.field(factory=identity)
    duration_seconds: int = 60
    resource_version: str = ""
    taken_over: bool = True
    """The last `acquire` took the Lease from another runner or from none, rather than
    renewing this one's."""

    @property
    def path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"

    def acquire(self, now: datetime) -> str | None:
        """Take or renew the lease; None when taken, else who holds it until when."""
        spec = {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration_seconds,
            "renewTime": now.strftime(MICRO),
        }
        try:
            current = self.kube.request("GET", f"{self.path}/{LEASE_NAME}")
        except KubeError as error:
            if error.status != 404:
                raise
            now = self.kube.server_now() or now
            spec["renewTime"] = now.strftime(MICRO)
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": LEASE_NAME, "namespace": self.namespace},
                "spec": {**spec, "acquireTime": now.strftime(MICRO)},
            }
            try:
                created = self.kube.request("POST", self.path, body=body)
            except KubeError as conflict:
                if conflict.status == 409:
                    return "another runner (it created the lease a moment ago)"
                raise
            self.resource_version = created["metadata"]["resourceVersion"]
            self.taken_over = True
            return None
        # Judged, and renewed, by the API server's clock (the Date of its answer), never
        # by ours against another host's: a runner whose clock is ahead would take a
        # live Lease, one whose clock is behind would write a renewal already old.
        now = self.kube.server_now() or now
        spec["renewTime"] = now.strftime(MICRO)
        held = current.get("spec") or {}
        holder = held.get("holderIdentity") or ""
        renewed = _parse(held.get("renewTime")) or _parse(held.get("acquireTime"))
        expires = (renewed or now) + timedelta(seconds=held.get("leaseDurationSeconds") or 0)
        if holder and holder != self.holder and now < expires:
            return f"{holder} until {expires.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        current["spec"] = {**held, **spec}
        if holder != self.holder:
            current["spec"]["acquireTime"] = now.strftime(MICRO)
            current["spec"]["leaseTransitions"] = (held.get("leaseTransitions") or 0) + 1
        try:
            written = self.kube.request("PUT", f"{self.path}/{LEASE_NAME}", body=current)
        except KubeError as error:
            if error.status == 409:
                return "another runner (it renewed the lease a moment ago)"
            raise
        self.resource_version = written["metadata"]["resourceVersion"]
        # Another runner held it since this one's last pass (or none had it): what it
        # wrote meanwhile is not in this run's mirrors (runner.mirror).
        self.taken_over = holder != self.holder
        return None

    def release(self) -> None:
        """Give the lease up at the end of a pass, so the next one need not wait."""
        try:
            # Without a slot: reads a SIGTERM left in flight may hold every one.
            current = self.kube.request("GET", f"{self.path}/{LEASE_NAME}", bounded=False)
            if (current.get("spec") or {}).get("holderIdentity") != self.holder:
                return
            current["spec"]["holderIdentity"] = None
            self.kube.request("PUT", f"{self.path}/{LEASE_NAME}", body=current, bounded=False)
        except KubeError:
            return  # it expires by itself
