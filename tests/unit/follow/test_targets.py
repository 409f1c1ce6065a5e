"""A watched target: its verdict (did it end well?) and what a new observation changes."""

from __future__ import annotations

import pytest

from launcher.follow.status import normalise
from launcher.follow.targets import Target
from tests.support.followkit import entry, target


@pytest.mark.parametrize(
    ("status", "valid", "blocked_ok", "well"),
    [
        ("finished", True, False, True),
        ("finished", False, False, False),
        ("blocked", True, False, False),
        ("blocked", True, True, True),
        ("blocked", False, True, True),
        ("expired", None, True, False),
        ("working", None, True, False),
        ("suspend_requested", None, True, False),
    ],
)
def test_ended_well(status: str, valid: bool | None, blocked_ok: bool, well: bool) -> None:
    assert target(status, valid).verdict(blocked_ok).ended_well is well


def test_not_created_and_cancelled_did_not_end_well() -> None:
    t = Target(entry("never"), create_error="failed to create: HTTP 400: bad")
    assert t.verdict(True).reason == "failed to create: HTTP 400: bad"
    c = target("working")
    c.cancelled = True
    assert c.verdict(True).reason == "cancelled" and not c.active


def test_the_same_observation_again_changes_nothing_and_a_new_output_does() -> None:
    t = Target(entry("o", None), session_id="s", batch="t")
    row = {"session_id": "s", "status_enum": "working", "structured_output": {"n": 1}}
    first = normalise(row)
    assert first is not None and t.observe(first, str) is not None
    again = normalise(dict(row))
    assert again is not None and t.observe(again, str) is None
    # Same value, keys in another order: no change either (the full comparison decides).
    reordered = normalise({**row, "structured_output": {"n": 1}})
    assert reordered is not None and t.observe(reordered, str) is None
    changed = normalise({**row, "structured_output": {"n": True}})
    assert changed is not None
    fields = t.observe(changed, str)
    assert fields is not None and fields["structured_output"] == {"n": True}
