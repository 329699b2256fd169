"""Invariant 7: a snapshot survives dump -> JSON text -> load unchanged.

Covers every field of every snapshot type, with sub-second instants and arbitrary JSON
in authored specs. Error reporting for damaged files is in tests/unit.
"""

import json

from hypothesis import given

from policy.model import Snapshot
from policy.snapshot_format import dump
from policy.snapshot_load import load
from tests.properties.strategies import instants, snapshots


@given(snapshots(now=instants))
def test_snapshot_roundtrip(snapshot: Snapshot) -> None:
    text = json.dumps(dump(snapshot), allow_nan=False)
    assert load(json.loads(text)) == snapshot
