"""What a forecast is asked: the model's delays, the requests to add, what-if changes.

Pure but for reading a file of requests (`requests_from_file`). `Model` says how long
the world takes (a pass every CronJob period, actors' start and duration, a pod's
replacement becoming Ready, volumes detaching); `Spread` is a fixed or uniform delay;
`add_requests` and `requests_from_file` add requests as if filed now; `parse_changes`
and `changed` make the limits of a what-if scenario.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from policy import Snapshot
from policy.limit_spec import InvalidLimit, parse_limit_spec
from policy.model import LabelSelector, MaintenanceRequest, RequestStatus
from runner.durations import seconds_of
from runner.files import FileProblem, read_text, yaml_documents


@attrs.frozen
class Spread:
    """A delay: fixed, or uniform between `low` and `high` ('10m', '5m..15m')."""

    low: float
    high: float

    @classmethod
    def parse(cls, text: str) -> Spread:
        low, _, high = text.partition("..")
        first = seconds_of(low)
        last = seconds_of(high) if high else first
        if last < first:
            raise ValueError(f"{text!r}: a range goes up, LOW..HIGH")
        return cls(first, last)

    def draw(self, rng: random.Random) -> float:
        return self.low if self.high == self.low else rng.uniform(self.low, self.high)

    def __str__(self) -> str:
        return f"{self.low:g} s" if self.low == self.high else f"{self.low:g}..{self.high:g} s"


@attrs.frozen
class Model:
    period: float = 60.0
    actor_start: Spread = Spread(0.0, 0.0)
    actor_duration: Spread = Spread(600.0, 600.0)
    pod_ready: float = 30.0
    volume_detach: float = 30.0
    default_grace: float = 30.0
    horizon: float = 60 * 86400.0
    """Give up after this much simulated time (60 days)."""
    fail_rate: float = 0.0
    """The chance that a node's maintenance leaves it NotReady for good (what a
    `failureBudget` guards against)."""


def add_requests(snapshot: Snapshot, selector: LabelSelector | None, now: datetime) -> Snapshot:
    """Synthetic Pending requests for every node matching `selector` (all when None)
    that has no unfinished request yet."""
    busy = {
        r.spec.get("name")
        for r in snapshot.requests
        if not (r.status.state is not None and r.status.state.terminal)
        and r.spec.get("type") in ("node", "Node")
    }
    added = [
        MaintenanceRequest(
            name=f"forecast-{node.name}",
            uid=f"forecast-{node.name}",
            resource_version="1",
            generation=1,
            creation_timestamp=now,
            spec={"type": "node", "name": node.name, "requester": "forecast"},
            status=RequestStatus(),
        )
        for node in snapshot.nodes
        if node.name not in busy and (selector is None or selector.matches(node.labels))
    ]
    return attrs.evolve(snapshot, requests=(*snapshot.requests, *added))


def requests_from_file(path: Path, snapshot: Snapshot) -> Snapshot:
    """Add the MaintenanceRequests of a YAML or JSON file (one or more documents, each a
    request or a List of them), as if created now and not yet seen by the runner.

    A request without a name (`generateName`, as actors file them) is named like the
    API server would, with a counter instead of random letters. The spec is the
    policy's to judge (an invalid one is forecast as Rejected); anything that is not
    a MaintenanceRequest, or a name already taken, is an error naming the document.
    """
    objects = _objects(path)
    taken = {r.name for r in snapshot.requests}
    added = []
    for where, raw in objects:
        if not isinstance(raw, dict) or raw.get("kind") != "MaintenanceRequest":
            kind = raw.get("kind") if isinstance(raw, dict) else type(raw).__name__
            raise ValueError(
                f"--from-file {path}: {where} is {kind or 'without a kind'}, "
                "not a MaintenanceRequest"
            )
        meta = raw.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            prefix = meta.get("generateName")
            prefix = prefix if isinstance(prefix, str) and prefix else "forecast-"
            number = 1
            while f"{prefix}{number}" in taken:
                number += 1
            name = f"{prefix}{number}"
        elif name in taken:
            raise ValueError(f"--from-file {path}: {where}: a request named {name!r} exists")
        taken.add(name)
        added.append(
            MaintenanceRequest(
                name=name,
                uid=f"forecast-{name}",
                resource_version="1",
                generation=1,
                creation_timestamp=snapshot.now,
                spec=raw.get("spec", {}),
                status=RequestStatus(),
            )
        )
    if not added:
        raise ValueError(f"--from-file {path}: no MaintenanceRequest in it")
    return attrs.evolve(snapshot, requests=(*snapshot.requests, *added))


def _objects(path: Path) -> list[tuple[str, Any]]:
    """Every object of the file's documents (a List counts item by item), each with
    where it is ('document 2 item 3')."""
    try:
        documents = yaml_documents(read_text(path))
    except FileProblem as problem:
        raise ValueError(f"--from-file {path}: {problem}") from None
    objects: list[tuple[str, Any]] = []
    for index, document in enumerate(documents, start=1):
        if document is None:
            continue
        if isinstance(document, dict) and document.get("kind") == "List":
            items = document.get("items")
            if not isinstance(items, list):
                raise ValueError(f"--from-file {path}: document {index}: List without items")
            objects.extend((f"document {index} item {n}", o) for n, o in enumerate(items, 1))
        else:
            objects.append((f"document {index}", document))
    return objects


@attrs.frozen
class Change:
    limit: str
    field: str
    value: Any

    def __str__(self) -> str:
        return f"{self.limit}.{self.field}={json.dumps(self.value)}"


def _top_level_parts(text: str) -> list[str]:
    """`text` split at the commas outside JSON objects, lists and strings."""
    parts, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(text):
        if quoted:
            quoted = char != '"' or text[index - 1] == "\\"
        elif char == '"':
            quoted = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def parse_changes(text: str) -> tuple[Change, ...]:
    """'node.limit=10,zone-a.maxConcurrent=2' -> changes (values read as JSON when they
    parse, else as strings; commas inside a JSON value do not split it:
    'node.rate={"count":10,"perSeconds":3600}')."""
    changes = []
    for part in _top_level_parts(text):
        left, equals, raw = part.partition("=")
        limit, dot, field = left.strip().rpartition(".")
        if not equals or not dot or not limit or not field:
            raise ValueError(f"{part.strip()!r} is not LIMIT.FIELD=VALUE (e.g. node.limit=10)")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw.strip()
        changes.append(Change(limit, field, value))
    return tuple(changes)


def changed(snapshot: Snapshot, changes: Iterable[Change]) -> Snapshot:
    """The snapshot with the limits' specs changed; a limit that does not exist is an
    error (a typo would otherwise forecast nothing new)."""
    limits = {m.name: m for m in snapshot.limits}
    for change in changes:
        if change.limit not in limits:
            raise ValueError(
                f"--set {change}: no limit named {change.limit!r} "
                f"(limits: {', '.join(sorted(limits)) or 'none'})"
            )
        limit = limits[change.limit]
        spec = dict(limit.spec) if isinstance(limit.spec, dict) else {}
        spec[change.field] = change.value
        parsed = parse_limit_spec(limit.name, spec)
        if isinstance(parsed, InvalidLimit):
            # Forecast as asked, the limit would freeze what it governs: reported as a
            # "huge improvement" when the others finish sooner. A typo, surely.
            raise ValueError(
                f"--set {change}: makes limit {change.limit!r} invalid: {parsed.error}"
            )
        limits[change.limit] = attrs.evolve(limit, spec=spec, generation=limit.generation + 1)
    return attrs.evolve(snapshot, limits=tuple(limits.values()))
