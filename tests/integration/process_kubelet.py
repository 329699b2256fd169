"""A process kubelet: the project's own containers run as local processes.

The simulated kubelet (kubelet.py) only pretends pods run. For a pod whose container
image is one this project builds (`IMAGES`: the runner's), the simulated kubelet hands
the pod here, and this does for its one container what a kubelet does:

- runs the container's `command` (else the image's entrypoint, the console script the
  Dockerfile names) with its `args`, as a process of this test environment's own
  installation (no image: the code under test is the checkout);
- inside private mount and UTS namespaces (`unshare`; the hostname is the pod's
  name) where the pod's service account token (a TokenRequest bound to the pod, as a
  kubelet's projected token is), the API server's CA and the pod's namespace are
  mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount, the root
  filesystem is read-only when the container asks for `readOnlyRootFilesystem`, and
  the process keeps no capability and cannot gain privileges (`setpriv`), as
  `capabilities.drop: [ALL]` and `allowPrivilegeEscalation: false` ask;
- with only the container's environment (`env`: values and the downward API's pod
  fields) and `KUBERNETES_SERVICE_HOST/PORT` pointing at the test API server;
- reports the pod's phase and the container's state (running, terminated with its
  exit code, 128 + the signal when killed) in the pod status, the log's tail as the
  termination message under `FallbackToLogsOnError`;
- stops it the kubelet's way when the pod is deleted (the Job controller's kill at
  `activeDeadlineSeconds`, an eviction, a delete): SIGTERM, then SIGKILL once the
  grace period has passed; then the final delete.

What it does not do: pull or run an image, enforce resource limits (no cgroups), run
as `runAsUser` (the test environment's interpreter lives under a root-only home; the
process runs as root with every capability dropped), restart containers, run init
containers and probes, or enforce a pod's own `activeDeadlineSeconds`.
docs/testing.md says what this leaves unproven.

`stop()` kills every process it started; nothing outlives the session, even a session
that is killed: each process gets SIGKILL when the thread that started it ends
(`setpriv --pdeathsig`).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import attrs
from kubernetes import client
from kubernetes.client.exceptions import ApiException

# An image repository (the part before the tag, any registry in front) -> its entrypoint.
IMAGES = {"repairman/runner": "runner", "repairman-runner": "runner"}
SERVICE_ACCOUNT = "/run/secrets/kubernetes.io/serviceaccount"  # /var/run -> /run here
DEFAULT_GRACE = 30
# What a kubelet keeps of a failed container's log as its termination message.
MESSAGE_LINES, MESSAGE_BYTES = 80, 2048

# Run by `sh` inside the new mount namespace, before the container's process replaces
# it (same pid: the signals sent to it reach the container's process). $1: the
# directory holding token, ca.crt and namespace; $2: "ro" for a read-only root; $3: the
# hostname (the pod's name, in a UTS namespace of its own).
_ENTER = f"""set -e
hostname "$3"
mount -t tmpfs -o mode=0755,size=1m tmpfs /run
mkdir -p {SERVICE_ACCOUNT}
mount --bind "$1" {SERVICE_ACCOUNT}
mount -o remount,bind,ro {SERVICE_ACCOUNT}
if [ "$2" = ro ]; then mount -o remount,bind,ro /; fi
shift 3
exec setpriv --no-new-privs --inh-caps=-all --bounding-set=-all --pdeathsig KILL -- "$@"
"""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entrypoint(image: str) -> str | None:
    """The console script an image of ours runs, or None for any other image."""
    name, _, tag = image.rpartition(":")
    repository = name if name and "/" not in tag else image
    for known, script in IMAGES.items():
        if repository == known or repository.endswith(f"/{known}"):
            return script
    return None


def runs_as_process(pod: client.V1Pod) -> bool:
    containers = pod.spec.containers or []
    return len(containers) == 1 and entrypoint(containers[0].image or "") is not None


@attrs.define
class Container:
    """One started container: its process and what its status needs."""

    process: subprocess.Popen[bytes] | None
    log: Path
    secrets: tempfile.TemporaryDirectory[str]
    started: str
    started_at: float
    stopping_since: float | None = None
    grace: float = DEFAULT_GRACE
    reported: bool = False


class ProcessKubelet:
    """Runs the pods `runs_as_process` picks; the simulated kubelet calls `sync_pod`
    for each of them every poll, and `forget_others` with the pods it saw."""

    def __init__(self, api: client.ApiClient, *, logs: Path) -> None:
        self.core = client.CoreV1Api(api)
        self.api_server = api.configuration.host
        self.service = self.api_server
        """Where pods find the API server (KUBERNETES_SERVICE_HOST/PORT) when they start:
        the API server, or a test's fault proxy serving TLS in front of it."""
        self.ca = Path(api.configuration.ssl_ca_cert).read_bytes()
        self.bin = Path(sys.executable).parent
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.containers: dict[str, Container] = {}
        self.exits: dict[str, int] = {}  # pod uid -> the exit code reported
        self.lifetimes: dict[str, tuple[float, float | None]] = {}
        """pod uid -> when its process started and ended (time.time()), for tests that
        check that runs never overlapped."""
        self._lock = threading.Lock()

    # What tests read.

    def log(self, namespace: str, name: str) -> str:
        """The container's output so far (stdout and stderr, as `kubectl logs` shows)."""
        paths = sorted(self.logs.glob(f"{namespace}_{name}_*.log"))
        return "".join(path.read_text(errors="replace") for path in paths)

    def pid(self, uid: str) -> int | None:
        with self._lock:
            container = self.containers.get(uid)
        return container.process.pid if container and container.process else None

    def running(self) -> list[str]:
        """The uids of the pods whose process runs now."""
        with self._lock:
            return [
                uid
                for uid, c in self.containers.items()
                if c.process is not None and c.process.poll() is None
            ]

    # Called by the simulated kubelet's loop.

    def sync_pod(self, pod: client.V1Pod) -> None:
        uid = pod.metadata.uid
        with self._lock:
            container = self.containers.get(uid)
        if container is None:
            if pod.metadata.deletion_timestamp is not None:
                self._delete(pod)  # never started: nothing to stop
            elif pod.status.phase not in ("Succeeded", "Failed"):
                self._start(pod)
            return
        process = container.process
        code = process.poll() if process is not None else 128
        if code is None:
            self._stop_if_asked(pod, container)
            return
        if not container.reported:
            self._report_ended(pod, container, code)
        if pod.metadata.deletion_timestamp is not None:
            self._delete(pod)
            self._forget(uid)

    def forget_others(self, seen: Iterable[str]) -> None:
        """Kill the processes of pods that are gone (deleted with no grace)."""
        seen = set(seen)
        with self._lock:
            gone = [uid for uid in self.containers if uid not in seen]
        for uid in gone:
            self._forget(uid)

    def stop(self) -> None:
        with self._lock:
            uids = list(self.containers)
        for uid in uids:
            self._forget(uid)

    # The container's life.

    def _start(self, pod: client.V1Pod) -> None:
        spec = pod.spec.containers[0]
        log = self.logs / f"{pod.metadata.namespace}_{pod.metadata.name}_{pod.metadata.uid}.log"
        secrets = tempfile.TemporaryDirectory(prefix="sa-", dir=self.logs)
        container = Container(
            process=None,
            log=log,
            secrets=secrets,
            started=_now(),
            started_at=time.monotonic(),
        )
        with self._lock:
            self.containers[pod.metadata.uid] = container
        try:
            self._mount_source(pod, Path(secrets.name))
            argv = self._argv(pod, spec)
        except (ApiException, LookupError) as error:
            reason = error.reason if isinstance(error, ApiException) else str(error)
            log.write_text(f"process kubelet: cannot start the container: {reason}\n")
            container.reported = True
            self._status(pod, "Failed", self._terminated(spec, container, 128, "StartError"))
            return
        security = spec.security_context
        read_only = bool(security and security.read_only_root_filesystem)
        with log.open("ab") as out:
            container.process = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--uts",
                    "--propagation",
                    "private",
                    "--",
                    "sh",
                    "-c",
                    _ENTER,
                    "sh",
                    secrets.name,
                    "ro" if read_only else "rw",
                    pod.metadata.name,
                    *argv,
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._environment(pod, spec),
                cwd=spec.working_dir or "/",
                start_new_session=True,
            )
        self.lifetimes[pod.metadata.uid] = (time.time(), None)
        self._status(
            pod,
            "Running",
            {
                "name": spec.name,
                "image": spec.image,
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": container.started}},
            },
        )

    def _mount_source(self, pod: client.V1Pod, directory: Path) -> None:
        """What a kubelet projects for the pod's service account: a token bound to the
        pod, the cluster's CA, the namespace."""
        account = pod.spec.service_account_name or "default"
        token = self.core.create_namespaced_service_account_token(
            account,
            pod.metadata.namespace,
            client.AuthenticationV1TokenRequest(
                spec=client.V1TokenRequestSpec(
                    audiences=[],
                    expiration_seconds=3600,
                    bound_object_ref=client.V1BoundObjectReference(
                        api_version="v1", kind="Pod", name=pod.metadata.name, uid=pod.metadata.uid
                    ),
                )
            ),
        ).status.token
        for name, data in (
            ("token", token.encode()),
            ("ca.crt", self.ca),
            ("namespace", pod.metadata.namespace.encode()),
        ):
            (directory / name).write_bytes(data)
            (directory / name).chmod(0o644)
        directory.chmod(0o755)

    def _argv(self, pod: client.V1Pod, spec: client.V1Container) -> list[str]:
        command = list(spec.command or [entrypoint(spec.image)])
        program = self.bin / command[0]
        if "/" in command[0] or not program.exists():
            raise LookupError(f"{command[0]!r} is not a console script of this installation")
        return [str(program), *command[1:], *(spec.args or [])]

    def _environment(self, pod: client.V1Pod, spec: client.V1Container) -> dict[str, str]:
        fields = {
            "metadata.name": pod.metadata.name,
            "metadata.namespace": pod.metadata.namespace,
            "metadata.uid": pod.metadata.uid,
            "spec.nodeName": pod.spec.node_name or "",
            "spec.serviceAccountName": pod.spec.service_account_name or "default",
        }
        address = urlsplit(self.service)
        env = {
            "PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/",
            "HOSTNAME": pod.metadata.name,
            "KUBERNETES_SERVICE_HOST": address.hostname or "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(address.port or 443),
        }
        for variable in spec.env or []:
            if variable.value_from is not None:
                field = variable.value_from.field_ref
                if field is None or field.field_path not in fields:
                    raise LookupError(f"env {variable.name}: only pod fields are supported")
                env[variable.name] = fields[field.field_path]
            else:
                env[variable.name] = variable.value or ""
        return env

    def _stop_if_asked(self, pod: client.V1Pod, container: Container) -> None:
        assert container.process is not None
        now = time.monotonic()
        if container.stopping_since is None:
            if pod.metadata.deletion_timestamp is None:
                return
            grace = pod.metadata.deletion_grace_period_seconds
            if grace is None:
                grace = pod.spec.termination_grace_period_seconds
            container.grace = DEFAULT_GRACE if grace is None else grace
            container.stopping_since = now
            self._signal(container, signal.SIGTERM if container.grace > 0 else signal.SIGKILL)
        elif now - container.stopping_since >= container.grace:
            self._signal(container, signal.SIGKILL)

    @staticmethod
    def _signal(container: Container, number: signal.Signals) -> None:
        if container.process is not None and container.process.poll() is None:
            container.process.send_signal(number)

    def _report_ended(self, pod: client.V1Pod, container: Container, code: int) -> None:
        began, _ = self.lifetimes.get(pod.metadata.uid, (time.time(), None))
        self.lifetimes[pod.metadata.uid] = (began, time.time())
        spec = pod.spec.containers[0]
        exit_code = 128 - code if code < 0 else code  # killed by signal N: 128 + N
        terminated = self._terminated(
            spec, container, exit_code, "Completed" if exit_code == 0 else "Error"
        )
        self._status(pod, "Succeeded" if exit_code == 0 else "Failed", terminated)
        container.reported = True
        self.exits[pod.metadata.uid] = exit_code

    def _terminated(
        self, spec: client.V1Container, container: Container, exit_code: int, reason: str
    ) -> dict[str, object]:
        state: dict[str, object] = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": container.started,
            "finishedAt": _now(),
        }
        if exit_code != 0 and spec.termination_message_policy == "FallbackToLogsOnError":
            text = container.log.read_bytes() if container.log.exists() else b""
            tail = b"\n".join(text.rstrip(b"\n").split(b"\n")[-MESSAGE_LINES:])[-MESSAGE_BYTES:]
            if tail:
                state["message"] = tail.decode(errors="replace")
        return {
            "name": spec.name,
            "image": spec.image,
            "imageID": "",
            "ready": False,
            "started": False,
            "restartCount": 0,
            "state": {"terminated": state},
        }

    def _status(self, pod: client.V1Pod, phase: str, container: dict[str, object]) -> None:
        now = _now()
        ready = "True" if phase == "Running" else "False"
        status: dict[str, object] = {
            "phase": phase,
            "startTime": pod.status.start_time.strftime("%Y-%m-%dT%H:%M:%SZ")
            if pod.status.start_time
            else now,
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": ready, "lastTransitionTime": now},
                {"type": "Ready", "status": ready, "lastTransitionTime": now},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            ],
            "containerStatuses": [container],
        }
        try:
            self.core.patch_namespaced_pod_status(
                pod.metadata.name, pod.metadata.namespace, {"status": status}
            )
        except ApiException as error:
            if error.status != 404:
                raise

    def _delete(self, pod: client.V1Pod) -> None:
        delete_at_once(self.core, pod)

    def _forget(self, uid: str) -> None:
        with self._lock:
            container = self.containers.pop(uid, None)
        if container is None:
            return
        if container.process is not None and container.process.poll() is None:
            container.process.kill()
            container.process.wait(timeout=10)
        container.secrets.cleanup()


def delete_at_once(core: client.CoreV1Api, pod: client.V1Pod) -> None:
    """A kubelet's last word on a pod whose containers are gone: the delete with grace
    0, only of this very pod (its uid); one already gone or replaced is no error."""
    try:
        core.delete_namespaced_pod(
            pod.metadata.name,
            pod.metadata.namespace,
            grace_period_seconds=0,
            body=client.V1DeleteOptions(
                grace_period_seconds=0,
                preconditions=client.V1Preconditions(uid=pod.metadata.uid),
            ),
        )
    except ApiException as error:
        if error.status not in (404, 409):
            raise
