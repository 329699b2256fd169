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
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from policy import plan
from policy.snapshot_format import SnapshotFormatError, dump
from policy.snapshot_load import load
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
