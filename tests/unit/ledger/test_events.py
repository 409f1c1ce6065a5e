"""Ledger events: run ids."""

from __future__ import annotations

from launcher.ledger import events as ledger


def test_new_run_id_is_sortable_and_distinct() -> None:
    a, b = ledger.new_run_id(), ledger.new_run_id()
    assert a != b and len(a) == len("20261129T083000Z-3f9a1c") and a[8] == "T" and a[15] == "Z"


def test_a_line_of_a_shape_seen_valid_still_has_its_values_checked() -> None:
    """Lines of a shape already found valid skip the type checks, never the value checks."""
    line = {"v": 1, "ts": "t", "event": "sending", "entry": "m.yaml#a", "name": "a"}
    line |= {"key": "k", "run_id": "r", "content": "c", "attempt": 1, "timeout": 30.0}
    assert ledger.check_event(line) is None
    assert ledger.check_event(line) is None  # the same shape again: known now
    assert "timeout" in str(ledger.check_event({**line, "timeout": float("inf")}))
    assert "timeout" in str(ledger.check_event({**line, "timeout": -1.0}))
    created = {**line, "event": "created", "session_id": "devin-1", "url": "https://x/1"}
    del created["attempt"], created["timeout"]
    assert ledger.check_event(created) is None
    assert "session_id" in str(ledger.check_event({**created, "session_id": ".."}))
    # Of the same fields but another type or version: checked in full, and refused.
    assert "attempt" in str(ledger.check_event({**line, "attempt": "1"}))
    assert "'v'" in str(ledger.check_event({**line, "v": 2}))
    assert "'v'" in str(ledger.check_event({**line, "v": True}))
    assert "unknown event" in str(ledger.check_event({**line, "event": ["sending"]}))
