"""`--until-stable` reads every kind but pods from watches (runner.mirror, issue 29), on
the real control plane, through the fault proxy (which relays a watch's events as
they come).

- A mirror follows what others create, change and delete; a watch answered 410 Gone
  (its revision compacted away) makes it list again, and it goes on watching.
- Read-your-writes: with the requests' watch held at the proxy, the mirror never hears
  the runner's own writes; the next pass waits for them, lists again, and plans on
  what it wrote. (Fails without the wait: the pass plans on the request as it was
  before its own approval, and its writes are answered 409.)
- Another runner's writes: a runner whose Lease was taken and given back between its
  passes lists everything again, and plans on what the other wrote.
- A pass that admits, evicts or approves plans on fresh lists, whatever the watches
  say: an administrator's cordon counts, a withdrawn request is not drained further.
- A write answered 409 lists its kind again.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from runner.convert import request_of
from runner.lease import Lease
from runner.mirror import Mirror
from runner.read import GROUP_PATH, mirrors_of
from tests.faultproxy import Rule, hold, status
from tests.integration.cluster import GROUP, VERSION, Cluster, wait_until
from tests.integration.conftest import ControlPlane
from tests.integration.test_cordon_ownership import proxied_runner, runner_kubeconfig_via
from tests.integration.test_runner import request_body, runner, status_of

REQUESTS_WATCH = r"/maintenancerequests\?.*watch=1"


def _file(cluster: Cluster, name: str, node: str) -> None:
    cluster.custom.create_cluster_custom_object(
        GROUP, VERSION, "maintenancerequests", request_body(name, node)
    )


def _names(mirror: Mirror) -> set[str]:  # type: ignore[type-arg]
    return {r.name for r in mirror.items()}


def test_a_mirror_follows_the_cluster_and_lists_again_after_410(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    node = cluster.nodes(1, zone="a")[0]
    _file(cluster, "mr-before", node)
    gone = Rule(status(410), method="GET", path=REQUESTS_WATCH, nth=frozenset({1}))
    with proxied_runner(control_plane, gone, tmp_path / "kubeconfig") as (kube, proxy):
        mirror = Mirror(
            kube, "maintenancerequests", f"{GROUP_PATH}/maintenancerequests", request_of
        )
        mirror.start()
        try:
            assert _names(mirror) == {"mr-before"}
            # Its first watch was answered 410: it listed again, and watches from there.
            wait_until("a second list after the 410", lambda: mirror.lists == 2)
            _file(cluster, "mr-after", node)
            wait_until("the new request seen", lambda: _names(mirror) == {"mr-before", "mr-after"})
            cluster.custom.patch_cluster_custom_object(
                GROUP,
                VERSION,
                "maintenancerequests",
                "mr-after",
                {"spec": {"reason": "firmware"}},
            )
            wait_until(
                "the change seen",
                lambda: any(
                    r.name == "mr-after" and r.spec.get("reason") == "firmware"
                    for r in mirror.items()
                ),
            )
            cluster.custom.delete_cluster_custom_object(
                GROUP, VERSION, "maintenancerequests", "mr-before"
            )
            wait_until("the deletion seen", lambda: _names(mirror) == {"mr-after"})
            assert mirror.lists == 2
            assert ("GET", "410") not in {(m, c) for m, _p, c in proxy.history}
        finally:
            mirror.stop()
            kube.stop_watches()


def test_a_pass_waits_for_its_own_writes_to_show_before_it_plans(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    nodes = cluster.nodes(2, zone="a")
    cluster.wait_nodes_ready(nodes)
    cluster.zone_limit("a")
    _file(cluster, "mr-a", nodes[0])
    # The requests' watch never begins: the mirror hears none of the runner's writes.
    deaf = Rule(hold(), method="GET", path=REQUESTS_WATCH, probability=1)
    with proxied_runner(control_plane, deaf, tmp_path / "kubeconfig") as (_kube, proxy):
        kubeconfig = runner_kubeconfig_via(control_plane, proxy.url, tmp_path / "k2")
        code, _out, logs = runner(kubeconfig, "--until-stable", "--deadline", "40")
        proxy.release()
    assert code == 0, logs
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    passes = [line for line in logs if line.get("event") == "pass"]
    # Pass 2 waited for the approval to show, gave up on the held watch and listed the
    # requests again; it and every later pass planned on what pass 1 wrote: no write
    # answered 409 (a plan on mr-a as it was before its approval admits it again).
    deferred = [
        line
        for line in logs
        if line.get("event") == "decision" and line.get("result") == "deferred"
    ]
    assert not deferred, deferred
    assert passes[-1]["writes"] == 0
    assert passes[1]["watched"]["listed_again"] >= 1, passes


def test_a_runner_lists_again_after_another_held_its_lease(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    node = cluster.nodes(1, zone="a")[0]
    _file(cluster, "mr-a", node)
    namespace = "repairman-system"  # where the runner's role lets it hold its Lease
    # The requests' watch never begins: only a list shows this runner what changed.
    deaf = Rule(hold(), method="GET", path=REQUESTS_WATCH, probability=1)
    with proxied_runner(control_plane, deaf, tmp_path / "kubeconfig") as (kube, _proxy):
        lease = Lease(kube, namespace)
        mirrors = mirrors_of(kube)
        try:
            assert lease.acquire(datetime.now(UTC)) is None
            mirrors.start()
            assert _names(mirrors.kinds["maintenancerequests"]) == {"mr-a"}

            # Renewed by this runner alone: nothing to list again.
            assert lease.acquire(datetime.now(UTC)) is None and not lease.taken_over
            _file(cluster, "mr-b", node)  # an actor's: the watch will say (it is deaf here)
            assert mirrors.settle(kube.take_written(), taken_over=lease.taken_over) == 0

            # Another runner takes the stale Lease, writes, and gives it back.
            path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/repairman-runner"
            taken = cluster.raw("GET", path)
            taken["spec"]["holderIdentity"] = "runner-b"
            cluster.raw("PUT", path, taken)
            _file(cluster, "mr-by-b", node)
            given_back = cluster.raw("GET", path)
            given_back["spec"]["holderIdentity"] = None
            cluster.raw("PUT", path, given_back)

            assert lease.acquire(datetime.now(UTC)) is None and lease.taken_over
            listed = mirrors.settle(kube.take_written(), taken_over=lease.taken_over)
            assert listed == len(mirrors.kinds)
            assert _names(mirrors.kinds["maintenancerequests"]) == {"mr-a", "mr-b", "mr-by-b"}
        finally:
            mirrors.stop()
            lease.release()


def test_an_admission_is_planned_on_fresh_lists_whatever_the_watches_say(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """A node watch that stays open but delivers nothing (a connection a load balancer
    dropped silently, a server whose watch cache lags) must not let an administrator's
    cordon go uncounted: `maxConcurrent: 1` over cordoned nodes is full once the
    administrator cordons x, and mr-y must wait (review of the mirrors: admitted, x and
    y would be down at once)."""
    x, y = cluster.nodes(2, zone="a")
    b = cluster.nodes(1, zone="b")[0]
    cluster.wait_nodes_ready([x, y, b])
    # mr-b's drain waits on a PDB that allows nothing: the run keeps passing.
    cluster.unmanaged_pod("web-0", b, labels={"app": "web"})
    wait_until(
        "web-0 running", lambda: any(p.status.phase == "Running" for p in cluster.pods("web"))
    )
    cluster.pdb("web", min_available=1)
    cluster.disruptions_allowed("web", 0)
    cluster.zone_limit("b", drain={"timeoutSeconds": 600})
    cluster.zone_limit("a", maxConcurrent=1, policies=["Unschedulable"])
    _file(cluster, "mr-b", b)
    # The nodes' watch never begins: only a list shows the runner a node changed.
    deaf = Rule(hold(), method="GET", path=r"/api/v1/nodes\?.*watch=1", probability=1)
    node_lists = re.compile(r"^/api/v1/nodes\?(?!.*watch=1)")
    with proxied_runner(control_plane, deaf, tmp_path / "kubeconfig") as (_kube, proxy):
        kubeconfig = runner_kubeconfig_via(control_plane, proxy.url, tmp_path / "k2")

        def administrator() -> None:
            # Pass 1 cordoned b, and pass 2 listed the nodes again to see it (its own
            # write); from then on the runner's copy of the nodes is frozen.
            wait_until(
                "the nodes listed twice",
                lambda: (
                    sum(m == "GET" and bool(node_lists.match(p)) for m, p, _ in proxy.history) >= 2
                ),
            )
            time.sleep(2)
            cluster.core.patch_node(x, {"spec": {"unschedulable": True}})
            _file(cluster, "mr-y", y)

        meanwhile = threading.Thread(target=administrator)
        meanwhile.start()
        # The runner in this thread: it takes the signals.
        code, _out, logs = runner(kubeconfig, "--until-stable", "--deadline", "25")
        meanwhile.join(60)
        proxy.release()
    assert code == 0, logs
    assert any(e.get("event") == "decision" and e.get("request") == "mr-y" for e in logs), logs
    # Planned on the nodes as they are: x is cordoned, the limit is full.
    assert status_of(cluster, "mr-y").get("state") in (None, "Pending"), status_of(cluster, "mr-y")
    assert status_of(cluster, "mr-b")["state"] == "Preparing"


def test_a_write_answered_409_lists_its_kind_again(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """A write answered 409 (or 404) was made on a stale copy: the watch may be behind
    in a way no revision of ours shows, so the next pass lists that kind again instead
    of planning on the copy. (Fails without it: pass 2 lists nothing again.)"""
    node = cluster.nodes(1, zone="a")[0]
    cluster.wait_nodes_ready([node])
    cluster.zone_limit("a")
    _file(cluster, "mr-a", node)
    conflict = Rule(
        status(409), method="PATCH", path=r"/maintenancerequests/mr-a/status", nth=frozenset({1})
    )
    with proxied_runner(control_plane, conflict, tmp_path / "kubeconfig") as (_kube, proxy):
        kubeconfig = runner_kubeconfig_via(control_plane, proxy.url, tmp_path / "k2")
        code, _out, logs = runner(kubeconfig, "--until-stable", "--deadline", "30")
        assert ("PATCH", "fault: 409") in {(m, f) for m, _p, f in proxy.history}
    assert code == 0, logs
    assert status_of(cluster, "mr-a")["state"] == "Approved"
    passes = [line for line in logs if line.get("event") == "pass"]
    assert passes[1]["watched"]["listed_again"] >= 1, passes


def test_a_request_withdrawn_under_a_quiet_watch_is_not_drained_further(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The requests' watch stays open but delivers nothing. mr-a's drain waits on a
    PDB that allows nothing; its actor withdraws it, and then the budget frees (a
    replica more, on another node). A pass planned on the watched copy would evict
    from the withdrawn request's node; an eviction is planned on fresh lists instead,
    which show the withdrawal: nothing is evicted and x is uncordoned (review of the
    mirrors, F1). (Fails without the fresh lists: web's pod on x is evicted.)"""
    x = cluster.nodes(1, zone="a")[0]
    cluster.wait_nodes_ready([x])
    cluster.deployment("web", 1)
    (pod,) = cluster.running_ready("web", 1)
    assert pod.spec.node_name == x
    cluster.pdb("web", min_available=1)
    cluster.disruptions_allowed("web", 0)
    y = cluster.nodes(1, zone="b")[0]  # for the replica more; no limit governs zone b
    cluster.wait_nodes_ready([y])
    cluster.zone_limit("a", drain={"timeoutSeconds": 600})
    _file(cluster, "mr-a", x)
    deaf = Rule(hold(), method="GET", path=REQUESTS_WATCH, probability=1)
    failed: list[BaseException] = []
    request_lists = re.compile(r"/maintenancerequests\?(?!.*watch=1)")
    with proxied_runner(control_plane, deaf, tmp_path / "kubeconfig") as (_kube, proxy):
        kubeconfig = runner_kubeconfig_via(control_plane, proxy.url, tmp_path / "k2")

        def actor_and_administrator() -> None:
            # Pass 1 listed the requests; pass 2 listed them again to see pass 1's
            # writes. From then on the runner's copy of the requests is frozen.
            try:
                wait_until(
                    "the requests listed twice",
                    lambda: (
                        sum(
                            m == "GET" and bool(request_lists.search(p))
                            for m, p, _ in proxy.history
                        )
                        >= 2
                    ),
                )
                time.sleep(2)
                cluster.custom.patch_cluster_custom_object(
                    GROUP,
                    VERSION,
                    "maintenancerequests",
                    "mr-a",
                    {"spec": {"state": "Completed"}},
                )
                cluster.apps.patch_namespaced_deployment_scale(
                    "web", cluster.namespace, {"spec": {"replicas": 2}}
                )
                cluster.disruptions_allowed("web", 1)
            except BaseException as error:  # shown by the test, not lost in the thread
                failed.append(error)

        meanwhile = threading.Thread(target=actor_and_administrator)
        meanwhile.start()
        code, _out, logs = runner(kubeconfig, "--until-stable", "--deadline", "60")
        meanwhile.join(60)
        proxy.release()
    assert not failed, failed
    assert code == 0, logs
    evictions = [
        line for line in logs if line.get("event") == "decision" and line.get("action") == "Evict"
    ]
    assert not [e for e in evictions if e["result"] == "done"], evictions
    assert pod.metadata.name in {p.metadata.name for p in cluster.pods("web")}
    assert status_of(cluster, "mr-a")["state"] == "Completed"
    assert not cluster.core.read_node(x).spec.unschedulable
