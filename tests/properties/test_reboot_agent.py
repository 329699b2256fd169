"""The reboot agent killed anywhere and restarted: exactly one request, one reboot.

The real `repairman.agent.Agent` runs against an in-memory world: a store of
MaintenanceRequests that answers the agent's few API calls as the API server does
(generateName, merge patches with null deleting, resourceVersion preconditions: 409),
a runner that moves each request one state a round (Pending -> Approved, InProgress
seen, Completed ends it), and a node whose reboot changes the boot ID, removes the
sentinel (/var/run is a tmpfs) and is NotReady for a few rounds.

Hypothesis chooses where the agent dies: before a write reaches the store, after it
landed but before the agent saw the answer (the reboot mark included: dead before its
command ran), inside the reboot command (the reboot under way), how long the reboot
takes to bring the node down (the agent runs on meanwhile) and how long the node stays
down. A round is a minute. Each death starts a new agent
process (a new `Agent`, nothing kept but what is in the world). Whatever the choices:
one request filed, one reboot, the request Completed, the sentinel gone.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from repairman.actor import REQUESTS
from repairman.agent import Agent, Sentinel
from repairman.reboot import BOOT_ID, REBOOTING, File, Reboot, Start, Wait, next_step
from runner.kube import KubeError

NODE = "worker-1"


class Killed(Exception):
    """The agent's process died here."""


def merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, dict):
            merge(into.setdefault(key, {}), value)
        else:
            into[key] = value


@attrs.define
class World:
    deaths: list[str]
    """Where the agent dies, in order of the opportunities: "before" (a write),
    "after" (a write), "reboot" (inside the reboot command), "" (lives on)."""
    down_rounds: int
    lag: int = 0
    """Rounds between the reboot command and the node going down; the agent runs on
    meanwhile (and may be killed and restarted inside the reboot)."""
    boot: int = 1
    clock: datetime = datetime(2026, 12, 7, tzinfo=UTC)
    booted_at: datetime = datetime(2026, 12, 6, tzinfo=UTC)
    going_down: int | None = None
    down: int = 0
    sentinel: bool = True
    requests: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    version: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))
    filed: int = 0
    reboots: int = 0
    chances: int = 0

    def death(self, kinds: tuple[str, ...]) -> str:
        kind = self.deaths[self.chances] if self.chances < len(self.deaths) else ""
        self.chances += 1
        return kind if kind in kinds else ""

    # The API server, for the calls the agent makes.
    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if path == f"/api/v1/nodes/{NODE}":
            ready = "False" if self.down else "True"
            return {
                "status": {
                    "nodeInfo": {"bootID": f"boot-{self.boot}"},
                    "conditions": [{"type": "Ready", "status": ready}],
                }
            }
        if path.endswith("/selfsubjectreviews"):
            raise KubeError("not served", status=404)
        if method == "GET" and path == REQUESTS:
            return {"items": [dict(item) for item in self.requests.values()]}
        death = self.death(("before", "after"))
        if death == "before":
            raise Killed
        body = kwargs["body"]
        if method == "POST":
            name = body["metadata"]["name"]
            if name in self.requests:
                raise KubeError("already exists", status=409)
            body["metadata"] = {**body["metadata"], "creationTimestamp": self.clock.isoformat()}
            body["metadata"]["resourceVersion"] = str(next(self.version))
            self.requests[name] = body
            self.filed += 1
        else:
            name = path.rsplit("/", 1)[1]
            stored = self.requests[name]
            wanted = (body.get("metadata") or {}).get("resourceVersion")
            if wanted is not None and wanted != stored["metadata"]["resourceVersion"]:
                raise KubeError("conflict", status=409)
            body = {**body, "metadata": {**(body.get("metadata") or {})}}
            body["metadata"].pop("resourceVersion", None)
            merge(stored, body)
            stored["metadata"]["resourceVersion"] = str(next(self.version))
        if death == "after":
            raise Killed
        return self.requests[name]

    # The runner's pass.
    def runner_pass(self) -> None:
        for request in self.requests.values():
            spec, status = request["spec"], request.setdefault("status", {})
            state = status.get("state", "Pending")
            if state in ("Completed", "Rejected", "Expired"):
                continue
            if spec.get("state") == "Completed":
                status["state"] = "Completed"
            elif spec.get("state") == "InProgress":
                status["state"] = "InProgress"
            elif state == "Pending":
                status["state"] = "Approved"
                status["approvedAt"] = self.clock.isoformat()
            else:
                continue
            request["metadata"]["resourceVersion"] = str(next(self.version))

    def reboot(self) -> None:
        self.reboots += 1
        self.going_down = self.lag

    # A minute passes: the node's reboot goes on; the kubelet after it.
    def tick(self) -> bool:
        """True when the node went down now (the agent's process dies with it)."""
        self.clock += timedelta(minutes=1)
        if self.down:
            self.down -= 1
        if self.going_down is not None:
            if self.going_down > 0:
                self.going_down -= 1
                return False
            self.going_down = None
            self.boot += 1
            self.booted_at = self.clock
            self.sentinel = False  # /var/run is a tmpfs
            self.down = self.down_rounds
            return True
        return False


class WorldAgent(Agent):
    world: World

    def run_reboot_command(self) -> str:
        self.world.reboot()
        if self.world.death(("reboot",)):
            raise Killed  # killed inside the command, the reboot under way
        return ""

    def clock(self) -> datetime:
        return self.world.clock

    def uptime(self) -> float:
        return (self.world.clock - self.world.booted_at).total_seconds()


class WorldSentinel(Sentinel):
    def __init__(self, world: World) -> None:
        super().__init__("/nonexistent", None)
        self.world = world

    def needed(self) -> bool:
        return self.world.sentinel


def agent_in(world: World) -> WorldAgent:
    agent = WorldAgent(world, NODE, WorldSentinel(world), ["reboot"])  # type: ignore[arg-type]
    agent.world = world
    return agent


@given(
    deaths=st.lists(st.sampled_from(["", "before", "after", "reboot"]), max_size=12),
    down_rounds=st.integers(0, 3),
    lag=st.integers(0, 3),
    twins=st.booleans(),
)
def test_killed_anywhere_and_restarted_one_request_one_reboot(
    deaths: list[str], down_rounds: int, lag: int, twins: bool
) -> None:
    """`twins`: two agents on the node (a DaemonSet's rolling update, or a cron
    `--once` beside the DaemonSet), each round one after the other."""
    world = World(deaths=deaths, down_rounds=down_rounds, lag=lag)
    agents = [agent_in(world) for _ in range(2 if twins else 1)]
    for _round in range(300):  # 12 deaths, each a 10-minute wait at most
        # Twins look first, then act: each acts on a read the other's write made stale.
        seen = [agent.observe() for agent in agents]
        for index, agent in enumerate(agents):
            try:
                agent.act(next_step(seen[index]), seen[index])
            except Killed:
                agents[index] = agent_in(world)  # starts again, remembering nothing
            except KubeError as error:
                assert error.status == 409  # a stale read: looked at again next round
        world.runner_pass()
        if world.tick():
            agents = [agent_in(world) for _ in agents]  # the node went down and up
        done = [r for r in world.requests.values() if r["status"].get("state") == "Completed"]
        if done and not world.sentinel and not world.down:
            break
    assert world.reboots == 1, world
    assert world.filed == 1, world
    (request,) = world.requests.values()
    assert request["status"]["state"] == "Completed"
    assert request["spec"]["state"] == "Completed"
    assert request["metadata"]["annotations"][BOOT_ID] == "boot-1"
    assert not world.sentinel


def test_an_agent_restarted_inside_its_reboot_waits_for_it_then_tries_once_more() -> None:
    """The mark is on the request, the boot ID unchanged: a reboot began and has not
    yet taken the node down. A restarted agent waits for it; only after
    `reboot_timeout` without a new boot ID does it send the command again."""
    world = World(deaths=["", "", "", "reboot"], down_rounds=0, lag=100)
    agent = agent_in(world)
    steps = []
    for _ in range(3):
        steps.append(type(next_step(agent.observe())))
        try:
            agent.round()
        except Killed:
            agent = agent_in(world)
        world.runner_pass()
    assert steps == [File, Start, Reboot] and world.reboots == 1
    (request,) = world.requests.values()
    assert REBOOTING in request["metadata"]["annotations"]
    for _ in range(9):  # 9 minutes: still waiting
        world.clock += timedelta(minutes=1)
        step = next_step(agent.observe())
        assert isinstance(step, Wait) and "under way" in step.why, step
    world.clock += timedelta(minutes=1)
    step = next_step(agent.observe())
    assert isinstance(step, Reboot) and step.again, step
