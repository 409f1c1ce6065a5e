"""Which entries `rerun` gives a new session: each branch of `launcher.follow.rerun`."""

from __future__ import annotations

import pytest

from launcher.entry import Entry
from launcher.follow.rerun import RerunAsk, choose
from launcher.follow.targets import Target
from launcher.ledger.state import KeyRecord


def _target(
    name: str,
    status: str | None,
    *,
    outcome: str = "created",
    rerun: int = 0,
    changed: bool = False,
    valid: bool | None = None,
    cancelled: bool = False,
) -> Target:
    entry = Entry(name, "m.yaml", "m.yaml", 1, {"prompt": name})
    sid = f"s-{name}" if outcome == "created" else None
    record = KeyRecord(f"m.yaml#{name}", name, entry.key, entry.content, outcome,  # type: ignore[arg-type]
                       session_id=sid, rerun=rerun)  # fmt: skip
    target = Target(entry, record, changed=changed, session_id=sid, status=status)
    target.output_valid, target.cancelled = valid, cancelled
    return target


def test_only_sessions_that_ended_as_asked_are_replaced_each_once() -> None:
    a, b, c = _target("a", "expired"), _target("b", "finished"), _target("c", "expired")
    choice = choose([a, b, c, a], RerunAsk(frozenset({"expired"})))
    assert [(t.entry.name, why) for t, why in choice.replace] == [
        ("a", "expired"),
        ("c", "expired"),
    ]
    assert choice.replaced == {a.key: "s-a", c.key: "s-c"}


def test_invalid_output_and_cancelled_are_reasons_too() -> None:
    bad = _target("bad", "finished", valid=False)
    gone = _target("gone", "stopped", cancelled=True)
    fine = _target("fine", "finished", valid=True)
    choice = choose([bad, gone, fine], RerunAsk(frozenset({"cancelled"}), invalid_output=True))
    assert [(t.entry.name, why) for t, why in choice.replace] == [
        ("bad", "invalid output"),
        ("gone", "cancelled"),
    ]


def test_an_unfinished_rerun_is_finished_whatever_was_asked_and_an_edit_is_left_to_run() -> None:
    stopped = _target("stopped", None, outcome="sending", rerun=1)
    never = _target("never", None, outcome="failed")  # not a rerun: `run` sends it
    edited = _target("edited", "expired", changed=True)
    choice = choose([stopped, never, edited], RerunAsk(frozenset({"expired"})))
    assert choice.replace == [] and choice.resume == [stopped] and choice.changed == [edited]
    assert choice.targets == [stopped] and choice.replaced == {}


def test_a_rerun_asks_for_something() -> None:
    with pytest.raises(ValueError):
        RerunAsk()
