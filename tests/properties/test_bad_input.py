"""Bad input never crashes: damaged snapshot documents give one SnapshotFormatError
naming a JSON path; whatever loads, `plan` plans.

Covers: arbitrary JSON as a whole document, and valid documents with one value swapped
for arbitrary JSON at a random place (the realistic damage: a field of the wrong type,
a missing field, a wrong enum, a huge or unicode string). Malformed specs inside a
valid document are the policy's to reject (test_invariants.py generates them).
Objects reaching the runner through the API are the integration tests'.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from policy import UpdateRequestStatus, plan
from policy.model import Snapshot
from policy.snapshot_format import SnapshotFormatError, dump
from policy.snapshot_load import load
from policy.times import CLOCK_SKEW
from tests.properties.strategies import json_values, snapshots

damage = st.one_of(
    json_values,
    st.text(min_size=1000, max_size=3000),
    st.text(alphabet=st.characters(min_codepoint=0x80), max_size=20),
    st.just(None),
)


def places(document: Any, path: str = "$") -> list[tuple[str, Any, Any]]:
    """Every (path, container, key) in a JSON document."""
    found = []
    if isinstance(document, dict):
        for key, value in document.items():
            found.append((f"{path}.{key}", document, key))
            found += places(value, f"{path}.{key}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.append((f"{path}[{index}]", document, index))
            found += places(value, f"{path}[{index}]")
    return found


def load_or_explain(document: Any) -> None:
    try:
        snapshot = load(document)
    except SnapshotFormatError as error:
        assert str(error).startswith("$"), error
        assert "\n" not in str(error)
        return
    plan(snapshot)


@given(json_values)
def test_arbitrary_json_is_refused_cleanly(document: Any) -> None:
    load_or_explain(document)


@given(snapshots(), st.data())
def test_one_damaged_value_is_refused_or_planned(snapshot: Any, data: st.DataObject) -> None:
    document = json.loads(json.dumps(dump(snapshot)))
    spots = places(document)
    _, container, key = data.draw(st.sampled_from(spots))
    if data.draw(st.booleans()) and isinstance(container, dict):
        del container[key]
    else:
        container[key] = data.draw(damage)
    load_or_explain(document)


extreme_instants = st.datetimes(
    # Naive bounds are how Hypothesis takes them; every drawn instant is in UTC.
    min_value=datetime(1, 1, 2),  # noqa: DTZ001
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(snapshots(), st.data())
def test_any_status_time_plans_and_none_is_written_after_now(
    snapshot: Snapshot, data: st.DataObject
) -> None:
    """Issue 32 item 3: a status or limit time anywhere in year 1..9999 (a hand edit, a
    restored backup) neither stops the pass nor sets a timer in the future."""
    fields = ("preparing_since", "drained_at", "approved_at", "started_at", "finished_at")
    requests = tuple(
        attrs.evolve(
            r,
            status=attrs.evolve(
                r.status, **{f: data.draw(st.none() | extreme_instants) for f in fields}
            ),
        )
        for r in snapshot.requests
    )
    limits = tuple(
        attrs.evolve(
            m, status=attrs.evolve(m.status, last_admission_at=data.draw(extreme_instants))
        )
        for m in snapshot.limits
    )
    result = plan(attrs.evolve(snapshot, requests=requests, limits=limits))
    for decision in result.decisions:
        if isinstance(decision, UpdateRequestStatus):
            status = decision.status
            for field in fields:
                value = getattr(status, field)
                # Less than CLOCK_SKEW after now is another pass's now (policy.times).
                assert value is None or value < snapshot.now + CLOCK_SKEW, (
                    decision.request,
                    field,
                    value,
                )
