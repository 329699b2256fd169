"""k8s/admission's policy on the real API server's own admission requests.

The 1.20 test API server cannot run a ValidatingAdmissionPolicy, but it calls validating
webhooks. This test registers one on loopback (HTTPS, a throwaway CA) that records every
AdmissionReview for MaintenanceRequests and answers it with the verdict of the shipped
policy's CEL, evaluated by cel-python (tests/admission.py). So the expressions judge
what a real API server sends (its userInfo, the stored object with defaults, DELETE's
oldObject), for what the plugin, kubectl and the runner really do.

Two actors (ServiceAccounts bound to repairman-actor) use the kubectl plugin through
the fault proxy, which answers their SelfSubjectReview (1.28+) from a real TokenReview
of their own token (tests/translating.py). The admin group is the test admin's
(system:masters) instead of repairman-admins; the rest is the shipped ConfigMap.

Covers: the plugin records its creator; another actor can neither withdraw,
re-prioritise nor delete the request, nor file one in someone else's name or without a
creator; a priority above the ceiling is refused; the runner still approves, and deletes
the finished request after its TTL; an admin may delete anyone's request. Leaves out:
that a 1.30+ API server evaluates the CEL as cel-python does (docs/operator.md).
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.admission import Verdict, documents, judge
from tests.faultproxy import FaultProxy
from tests.integration.cluster import Cluster, wait_until
from tests.integration.conftest import GROUP, VERSION, ControlPlane, token_for
from tests.integration.test_actor_papercuts import one_pass
from tests.integration.test_actors import kubectl_repairman
from tests.translating import Translation

CREATED_BY = "repairman.k8s.io/created-by"
WEBHOOK = "repairman-admission-recorder"
PRIORITY_5 = '{"spec":{"priority":5}}'


class Recorder:
    """A validating webhook answering with tests.admission.judge, keeping every review."""

    def __init__(self, directory: Path, params: dict[str, Any]) -> None:
        self.params = params
        self.reviews: list[tuple[dict[str, Any], Verdict]] = []
        self.lock = threading.Lock()
        key, cert = directory / "webhook.key", directory / "webhook.crt"
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
                *("-addext", "subjectAltName=IP:127.0.0.1"),
            ],
            check=True,
            capture_output=True,
        )
        self.ca_bundle = base64.b64encode(cert.read_bytes()).decode()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                review = json.loads(self.rfile.read(length))
                request = review["request"]
                verdict = judge(request, recorder.params)
                with recorder.lock:
                    recorder.reviews.append((request, verdict))
                response: dict[str, Any] = {"uid": request["uid"], "allowed": verdict.allowed}
                if not verdict.allowed:
                    response["status"] = {"code": 403, "reason": "Forbidden"}
                    response["status"]["message"] = verdict.message
                body = json.dumps({**review, "request": None, "response": response}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}/validate"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def recording_webhook(control_plane: ControlPlane, directory: Path) -> Iterator[Recorder]:
    params = documents()["ConfigMap"]
    params = {**params, "data": {**params["data"], "adminGroup": "system:masters"}}
    recorder = Recorder(directory, params)
    admission = client.AdmissionregistrationV1Api(control_plane.api)
    rule = {
        "apiGroups": [GROUP],
        "apiVersions": ["*"],
        "operations": ["CREATE", "UPDATE", "DELETE"],
        "resources": ["maintenancerequests"],
        "scope": "*",
    }
    admission.create_validating_webhook_configuration(
        {
            "metadata": {"name": WEBHOOK},
            "webhooks": [
                {
                    "name": "requests.admission.repairman.test",
                    "clientConfig": {"url": recorder.url, "caBundle": recorder.ca_bundle},
                    "rules": [rule],
                    "admissionReviewVersions": ["v1"],
                    "sideEffects": "None",
                    "failurePolicy": "Fail",
                    "timeoutSeconds": 10,
                }
            ],
        }
    )
    try:
        yield recorder
    finally:
        admission.delete_validating_webhook_configuration(WEBHOOK)
        # The API server drops the webhook a moment later; until then it would refuse.
        wait_until("the recording webhook to be gone", lambda: _webhook_gone(control_plane))
        recorder.stop()


def _webhook_gone(control_plane: ControlPlane) -> bool:
    body = _request_body("probe-gone", annotate=None)
    custom = client.CustomObjectsApi(control_plane.api)
    try:
        custom.create_cluster_custom_object(GROUP, VERSION, "maintenancerequests", body)
    except ApiException:
        return False
    custom.delete_cluster_custom_object(GROUP, VERSION, "maintenancerequests", "probe-gone")
    return True


def _request_body(name: str, *, annotate: str | None, node: str = "no-such-node") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if annotate is not None:
        metadata["annotations"] = {CREATED_BY: annotate}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MaintenanceRequest",
        "metadata": metadata,
        "spec": {"type": "node", "name": node},
    }


@contextlib.contextmanager
def actors(
    control_plane: ControlPlane, cluster: Cluster, directory: Path, proxy: FaultProxy
) -> Iterator[dict[str, Path]]:
    """alice and bob: ServiceAccounts bound to repairman-actor; kubeconfigs for the plugin
    via the proxy (which answers SelfSubjectReviews), and `-direct` ones for kubectl."""
    core = client.CoreV1Api(control_plane.api)
    rbac = client.RbacAuthorizationV1Api(control_plane.api)
    binding = f"{cluster.prefix}-actors"
    names = ("alice", "bob")
    for name in names:
        core.create_namespaced_service_account(cluster.namespace, {"metadata": {"name": name}})
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": binding},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "repairman-actor",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": name, "namespace": cluster.namespace}
                for name in names
            ],
        }
    )
    try:
        configs = {}
        for name in names:
            config = json.loads(control_plane.kubeconfig.read_text())
            token = token_for(control_plane, cluster.namespace, name)
            config["users"] = [{"name": name, "user": {"token": token}}]
            config["contexts"][0]["context"]["user"] = name
            path = directory / f"{name}-direct.kubeconfig"
            path.write_text(json.dumps(config))
            configs[f"{name}-direct"] = path
            config["clusters"][0]["cluster"] = {"server": proxy.url}
            path = directory / f"{name}.kubeconfig"
            path.write_text(json.dumps(config))
            configs[name] = path
        yield configs
    finally:
        rbac.delete_cluster_role_binding(binding)


def admin_token(control_plane: ControlPlane) -> str:
    config = json.loads(control_plane.kubeconfig.read_text())
    return str(config["users"][0]["user"]["token"])


def test_only_the_creator_an_admin_or_the_runner_touch_a_request(
    cluster: Cluster, control_plane: ControlPlane, runner_kubeconfig: Path, tmp_path: Path
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", limit=100, ttlSecondsAfterFinished=0)
    configuration = control_plane.api.configuration
    translation = Translation(reviewer_token=admin_token(control_plane))
    proxy = FaultProxy(
        configuration.host, configuration.ssl_ca_cert, translation=translation
    ).start()
    custom = client.CustomObjectsApi(control_plane.api)

    def stored(name: str) -> dict[str, Any]:
        found: dict[str, Any] = custom.get_cluster_custom_object(
            GROUP, VERSION, "maintenancerequests", name
        )
        return found

    cache = ("--cache-dir", str(tmp_path / "kubectl-cache"))

    def kubectl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [control_plane.kubectl_binary, "--kubeconfig", str(config), *cache, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    try:
        with (
            actors(control_plane, cluster, tmp_path, proxy) as config,
            recording_webhook(control_plane, tmp_path) as recorder,
        ):
            alice = f"system:serviceaccount:{cluster.namespace}:alice"
            bob = f"system:serviceaccount:{cluster.namespace}:bob"

            def plugin(who: str, *args: str) -> subprocess.CompletedProcess[str]:
                return kubectl_repairman(control_plane, config[who], *args)

            # The webhook is in force once a request without a creator is refused.
            wait_until(
                "the recording webhook to be in force", lambda: not _webhook_gone(control_plane)
            )

            filed = plugin("alice", "request", nodes[0], "--requester", "alice")
            assert filed.returncode == 0, filed.stderr
            name = filed.stdout.strip().split("/")[1]
            assert stored(name)["metadata"]["annotations"][CREATED_BY] == alice

            for attempt in (
                plugin("bob", "withdraw", name),
                kubectl(
                    config["bob-direct"], "patch", "mr", name, "--type=merge", "-p", PRIORITY_5
                ),
                kubectl(config["bob-direct"], "delete", "mr", name),
                kubectl(
                    config["bob-direct"],
                    "annotate",
                    "--overwrite",
                    "mr",
                    name,
                    f"{CREATED_BY}={bob}",
                ),
            ):
                assert attempt.returncode != 0, attempt
                assert f"filed by {alice}" in attempt.stderr or "cannot be changed" in (
                    attempt.stderr
                ), attempt.stderr
            assert stored(name)["spec"]["state"] == "Pending"
            assert stored(name)["spec"]["priority"] == 0

            # Filing without a creator, or in alice's name, is refused; the message says
            # what to write.
            bare = config["bob"].parent / "bare.json"
            bare.write_text(json.dumps(_request_body("mr-bare", annotate=None, node=nodes[1])))
            refused = kubectl(config["bob-direct"], "create", "-f", str(bare))
            assert refused.returncode != 0 and f"{CREATED_BY}: {bob}" in refused.stderr
            forged = config["bob"].parent / "forged.json"
            forged.write_text(json.dumps(_request_body("mr-forged", annotate=alice, node=nodes[1])))
            refused = kubectl(config["bob-direct"], "create", "-f", str(forged))
            assert refused.returncode != 0 and f"{CREATED_BY}: {bob}" in refused.stderr

            greedy = plugin(
                "bob", "request", nodes[1], "--requester", "bob", "--priority", "2147483647"
            )
            assert greedy.returncode != 0 and "above 1000" in greedy.stderr, greedy.stderr
            own = plugin("bob", "request", nodes[1], "--requester", "bob", "--priority", "1000")
            assert own.returncode == 0, own.stderr
            bobs = own.stdout.strip().split("/")[1]

            # The runner approves alice's request; she works; the runner deletes it after
            # its TTL (0): a DELETE by the runner's user, which the policy lets through.
            one_pass(runner_kubeconfig)
            assert (stored(name).get("status") or {}).get("state") == "Approved"
            assert plugin("alice", "start", name).returncode == 0
            assert plugin("alice", "complete", name).returncode == 0

            def deleted() -> bool:
                one_pass(runner_kubeconfig)
                try:
                    stored(name)
                except ApiException as gone:
                    return gone.status == 404
                return False

            wait_until("the runner to delete the finished request", deleted)

            # An admin (the test admin's group) may delete anyone's request.
            custom.delete_cluster_custom_object(GROUP, VERSION, "maintenancerequests", bobs)

            seen = [
                (request["userInfo"]["username"], request["operation"], verdict.allowed)
                for request, verdict in recorder.reviews
            ]
            runner = documents()["ConfigMap"]["data"]["runner"]
            assert (runner, "DELETE", True) in seen
            assert (bob, "DELETE", False) in seen
            assert (bob, "UPDATE", False) in seen
            assert (alice, "UPDATE", True) in seen
            for request, verdict in recorder.reviews:
                if request["operation"] == "CREATE" and verdict.allowed:
                    annotations = request["object"]["metadata"].get("annotations") or {}
                    assert annotations[CREATED_BY] == request["userInfo"]["username"]
            (tmp_path / "reviews.json").write_text(
                json.dumps([[r, str(v)] for r, v in recorder.reviews], indent=1)
            )
    finally:
        proxy.stop()
