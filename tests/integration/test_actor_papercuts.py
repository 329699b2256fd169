"""An actor's first five minutes on the control plane (issue 19), through the real
kubectl finding the installed `kubectl-repairman` on PATH, and the Python API.

Covers: every subcommand takes the name `request` prints (`maintenancerequest/NAME`,
`mr/NAME`, `NAME`); `request --wait` that times out or is interrupted withdraws its
request unless `--keep`, and says which, its progress line ended; a target that does
not exist is refused at once when the actor may read it and filed when it may not; a
start-and-complete between two passes is a completion; no bearer token in any repr,
log line, progress line or error that a pass and the actor API produce.
Leaves out the parts without an API server (tests/unit/test_actor_papercuts.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import repairman
from repairman.actor import begin, file_request
from repairman.plugin import _withdrawn
from runner import passes
from runner.apply import Applier
from runner.kube import Kube
from tests.faultproxy import FaultProxy, Rule, hold
from tests.integration.cluster import Cluster, wait_until
from tests.integration.conftest import GROUP, VERSION, ControlPlane
from tests.integration.test_actors import BIN, kubectl_repairman
from tests.integration.test_approval_gate import one_pass as approve_pass
from tests.integration.test_runner import status_of


def requests_of(cluster: Cluster) -> list[dict[str, object]]:
    items = cluster.custom.list_cluster_custom_object(GROUP, VERSION, "maintenancerequests")
    return list(items["items"])


def one_pass(kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(BIN / "runner"), "--kubeconfig", str(kubeconfig), "-v"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-1000:]
    return done


def test_every_subcommand_takes_the_name_request_prints(
    cluster: Cluster, control_plane: ControlPlane, actor_kubeconfig: Path, runner_kubeconfig: Path
) -> None:
    nodes = cluster.nodes(2)
    cluster.wait_nodes_ready(nodes)
    cluster.limit("node", limit=100)

    def plugin(*args: str) -> subprocess.CompletedProcess[str]:
        return kubectl_repairman(control_plane, actor_kubeconfig, *args)

    printed = plugin("request", nodes[0], "--requester", "me").stdout.strip()
    assert printed.startswith("maintenancerequest/mr-"), printed
    name = printed.removeprefix("maintenancerequest/")
    explained = plugin("explain", printed)
    assert explained.returncode == 0 and f"Request:   {name}" in explained.stdout, explained
    one_pass(runner_kubeconfig)
    assert status_of(cluster, name)["state"] == "Approved"
    started = plugin("start", f"mr/{name}")
    assert started.returncode == 0, started.stderr
    one_pass(runner_kubeconfig)
    completed = plugin("complete", printed)
    assert completed.returncode == 0, completed.stderr
    one_pass(runner_kubeconfig)
    assert status_of(cluster, name)["state"] == "Completed"

    other = plugin("request", nodes[1], "--requester", "me").stdout.strip()
    withdrawn = plugin("withdraw", f"maintenancerequest.repairman.k8s.io/{other.split('/')[1]}")
    assert withdrawn.returncode == 0, withdrawn.stderr
    # Another kind's name is a usage error, one line, exit 2.
    wrong = plugin("start", f"node/{nodes[0]}")
    assert wrong.returncode == 2 and "not a MaintenanceRequest" in wrong.stderr, wrong.stderr


def test_a_quick_job_between_two_passes_is_a_completion(
    cluster: Cluster, control_plane: ControlPlane, actor_kubeconfig: Path, runner_kubeconfig: Path
) -> None:
    node = cluster.nodes(1)[0]
    cluster.wait_nodes_ready([node])
    cluster.limit("node", limit=100, cordon=True)
    printed = kubectl_repairman(
        control_plane, actor_kubeconfig, "request", node, "--requester", "quick"
    ).stdout.strip()
    name = printed.removeprefix("maintenancerequest/")
    one_pass(runner_kubeconfig)
    assert status_of(cluster, name)["state"] == "Approved"
    for verb in ("start", "complete"):  # no pass in between
        done = kubectl_repairman(control_plane, actor_kubeconfig, verb, printed)
        assert done.returncode == 0, done.stderr
    one_pass(runner_kubeconfig)
    status = status_of(cluster, name)
    assert (status["state"], status["reason"]) == ("Completed", "Completed"), status
    assert "InProgress was not seen" in status["message"]
    assert not cluster.core.read_node(node).spec.unschedulable, "uncordoned as any completion"


def test_a_wait_that_times_out_withdraws_unless_kept(
    cluster: Cluster, control_plane: ControlPlane, actor_kubeconfig: Path
) -> None:
    nodes = cluster.nodes(3)
    cluster.limit("node", limit=0)  # nothing is approved: every wait times out

    def wait_for(node: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return kubectl_repairman(
            control_plane, actor_kubeconfig,
            "request", node, "--requester", "impatient", "--wait", "--timeout", "2s", *extra,
        )  # fmt: skip

    gave_up = wait_for(nodes[0])
    assert gave_up.returncode == 1, gave_up.stderr
    assert gave_up.stderr.endswith("\n") and not gave_up.stdout
    last = gave_up.stderr.splitlines()[-1]
    assert last.startswith("error: mr-") and "not approved within 2 s" in last, last
    assert last.endswith("withdrawn"), last
    lines = gave_up.stderr.splitlines()
    assert all(line.startswith("mr-") for line in lines[:-1]), "progress lines end in \\n"
    (withdrawn,) = requests_of(cluster)
    assert withdrawn["spec"]["state"] == "Completed"  # type: ignore[index]

    kept = wait_for(nodes[1], "--keep")
    assert kept.returncode == 1, kept.stderr
    assert "kept (--keep): it stays queued" in kept.stderr.splitlines()[-1], kept.stderr
    states = sorted(r["spec"]["state"] for r in requests_of(cluster))  # type: ignore[index]
    assert states == ["Completed", "Pending"]

    # Ctrl-C while waiting: withdrawn too, and said so; exit 130 as a shell expects.
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    waiting = subprocess.Popen(
        [
            control_plane.kubectl_binary, "repairman", "--kubeconfig", str(actor_kubeconfig),
            "request", nodes[2], "--requester", "impatient", "--wait", "--timeout", "5m",
        ],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment,
    )  # fmt: skip
    wait_until("the third request filed", lambda: len(requests_of(cluster)) == 3)
    time.sleep(0.5)
    # kubectl execs the plugin: the process is the plugin itself.
    waiting.send_signal(signal.SIGINT)
    _, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 130, err
    assert err.splitlines()[-1].startswith("interrupted: mr-"), err
    assert err.splitlines()[-1].endswith("withdrawn"), err
    states = sorted(r["spec"]["state"] for r in requests_of(cluster))  # type: ignore[index]
    assert states == ["Completed", "Completed", "Pending"]


def test_a_target_that_does_not_exist_is_refused_when_it_can_be_read(
    cluster: Cluster, control_plane: ControlPlane, actor_kubeconfig: Path
) -> None:
    missing = f"{cluster.prefix}-no-such-node"
    refused = kubectl_repairman(
        control_plane, control_plane.kubeconfig, "request", missing, "--requester", "me"
    )
    assert refused.returncode == 1, refused
    assert refused.stderr == f"error: node {missing} does not exist: no request filed\n"
    workload = kubectl_repairman(
        control_plane, control_plane.kubeconfig,
        "request", f"{cluster.namespace}/nope", "--type", "deployment", "--requester", "me",
    )  # fmt: skip
    assert workload.returncode == 1 and "does not exist" in workload.stderr, workload
    assert requests_of(cluster) == []
    # The actor's role cannot read nodes: it files as before; a pass rejects it.
    filed = kubectl_repairman(
        control_plane, actor_kubeconfig, "request", missing, "--requester", "me"
    )
    assert filed.returncode == 0, filed.stderr
    assert len(requests_of(cluster)) == 1


def test_no_bearer_token_in_any_repr_log_line_or_error(
    cluster: Cluster, control_plane: ControlPlane, actor_kubeconfig: Path, runner_kubeconfig: Path
) -> None:
    """Issue 19 item 7: what a pass logs (at debug) and prints, and what the actor API
    shows — the object `maintenance()` yields, its client, progress lines, errors —
    never holds the token of either identity."""
    tokens = [
        json.loads(path.read_text())["users"][0]["user"]["token"]
        for path in (actor_kubeconfig, runner_kubeconfig)
    ]
    node = cluster.nodes(1)[0]
    cluster.wait_nodes_ready([node])
    cluster.limit("node", limit=100, cordon=True)
    seen: list[str] = []
    stopping = threading.Event()

    def passes() -> None:  # a pass a second, as the CronJob's jobs, every line kept
        while not stopping.is_set():
            done = one_pass(runner_kubeconfig)
            seen.extend([done.stdout, done.stderr])
            planned = subprocess.run(
                [str(BIN / "runner"), "--kubeconfig", str(runner_kubeconfig), "--plan"],
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            seen.extend([planned.stdout, planned.stderr])
            stopping.wait(0.5)

    loop = threading.Thread(target=passes, daemon=True)
    loop.start()
    try:
        with repairman.maintenance(
            node,
            requester="careful",
            timeout=60,
            poll=0.2,
            progress=seen.append,
            kubeconfig=str(actor_kubeconfig),
        ) as request:
            seen.extend([repr(request), str(request), repr(request.kube), str(request.kube)])
            seen.append(repr(request.get()))
            assert any(t in request.kube.headers.get("Authorization", "") for t in tokens)
        wait_until("Completed", lambda: request.status.get("state") == "Completed")
    finally:
        stopping.set()
        loop.join(timeout=120)
    # Errors: a missing request, an unreachable server, a bad kubeconfig.
    kube = Kube.connect(kubeconfig=str(actor_kubeconfig))
    for failing in (
        lambda: repairman.Request(kube, "mr-no-such").get(),
        lambda: kube.request("GET", "/apis/repairman.k8s.io/v1/nope"),
    ):
        try:
            failing()
        except Exception as error:  # every error's text is searched
            seen += [str(error), repr(error)]
    unreachable = json.loads(actor_kubeconfig.read_text())
    unreachable["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
    broken = actor_kubeconfig.with_name("unreachable.kubeconfig")
    broken.write_text(json.dumps(unreachable))
    for command in (
        [str(BIN / "runner"), "--kubeconfig", str(broken)],
        [str(BIN / "kubectl-repairman"), "--kubeconfig", str(broken), "list"],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 1, done
        seen += [done.stdout, done.stderr]
    assert len(seen) > 12 and any("Approved" in line for line in seen)
    leaks = [line for line in seen for token in tokens if token in line]
    assert not leaks, leaks[:3]
    # The search itself can find: the tokens are long and distinct.
    assert all(len(token) > 100 for token in tokens) and tokens[0] != tokens[1]


def test_a_withdrawal_that_meets_an_approval_says_so(
    cluster: Cluster, control_plane: ControlPlane, actor_kubeconfig: Path, tmp_path: Path
) -> None:
    """Found by the break-this review: `request --wait` times out reading Pending, the
    runner writes Approved, then the plugin's withdrawal lands and it said "withdrawn"
    while the runner recorded a completion. The withdrawal is written on the object as
    read (resourceVersion): forced here with the fault proxy holding it while a pass
    approves, it meets a 409, reads again, and says the request was approved meanwhile
    (fails without the precondition: "withdrawn")."""
    node = cluster.nodes(1)[0]
    cluster.wait_nodes_ready([node])
    cluster.limit("node", limit=100)
    configuration = control_plane.api.configuration
    proxy = FaultProxy(configuration.host, configuration.ssl_ca_cert).start()
    try:
        via = json.loads(actor_kubeconfig.read_text())
        via["clusters"][0]["cluster"] = {"server": proxy.url}
        path = tmp_path / "actor-via-proxy.kubeconfig"
        path.write_text(json.dumps(via))
        made = file_request(Kube.connect(kubeconfig=str(path)), node, requester="impatient")
        proxy.add(
            Rule(
                hold(), method="PATCH", path=f"maintenancerequests/{made.name}$", nth=frozenset({1})
            )
        )
        said: list[str] = []
        withdrawing = threading.Thread(target=lambda: said.append(_withdrawn(made)))
        withdrawing.start()
        assert proxy.held.wait(30), ("the withdrawal reached the proxy", proxy.history, said)
        approve_pass(control_plane)
        assert status_of(cluster, made.name)["state"] == "Approved"
        proxy.release()
        withdrawing.join(timeout=60)
    finally:
        proxy.release()
        proxy.stop()
    assert said == [
        f"{made.name} was approved meanwhile: released (recorded as Completed, InProgress not seen)"
    ], said
    patches = [h[2] for h in proxy.history if h[0] == "PATCH" and h[2].isdigit()]
    assert patches == ["409", "200"], proxy.history


def test_an_actor_never_starts_an_approval_that_expired_after_it_read_it(
    cluster: Cluster, control_plane: ControlPlane, actor_kubeconfig: Path, runner_kubeconfig: Path
) -> None:
    """Issue 32 item 2: `maintenance()` read Approved, then — before it wrote
    InProgress — the approval expired and the runner uncordoned the node. The write is
    guarded by the resourceVersion of the object it read: it fails, the request is
    read again, and nothing is started (before: InProgress written on an Expired
    request, and the body run on an uncordoned node)."""
    node = cluster.nodes(1)[0]
    cluster.wait_nodes_ready([node])
    cluster.limit("node", limit=100, cordon=True, approvedTimeoutSeconds=60)
    kube = Kube.connect(kubeconfig=str(actor_kubeconfig))
    made = file_request(kube, node, requester="slow-actor")
    one_pass(runner_kubeconfig)
    made.wait_for_approval(timeout=10, poll=0.2)
    assert made.approved is not None
    approved_at = datetime.fromisoformat(
        made.approved["status"]["approvedAt"].replace("Z", "+00:00")
    )
    passes.clock = lambda: approved_at + timedelta(seconds=61)
    try:
        runner = Kube.connect(kubeconfig=str(runner_kubeconfig))
        snapshot, planned = passes.read_planned(runner)
        Applier(runner, snapshot, policy_version="policy/v1beta1").apply(planned)
    finally:
        passes.clock = None
    assert status_of(cluster, made.name)["state"] == "Expired"
    with pytest.raises(repairman.MaintenanceRefused, match="Expired"):
        begin(made)
    assert made.get()["spec"]["state"] == "Pending", "nothing declared on the expired approval"
    started = kubectl_repairman(control_plane, actor_kubeconfig, "start", made.name)
    assert started.returncode == 1 and "is Expired: start needs it Approved" in started.stderr
