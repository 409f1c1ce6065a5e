"""Which sessions follow-up acts on: manifest entries matched by entry id within the run
key, or the ledger's own sessions narrowed by batch, run key or name."""

from __future__ import annotations

from typing import Any

from launcher.entry import Entry
from launcher.follow.select import LedgerSelection, for_entries, for_ledger
from launcher.ledger.state import LedgerState


def entry(name: str, prompt: str = "p", run_key: str = "") -> Entry:
    return Entry(name, "m.yaml", "m.yaml", 1, {"prompt": f"{prompt} {name}"}, run_key)


def fold(*events: dict[str, Any]) -> LedgerState:
    state = LedgerState()
    for i, ev in enumerate(events):
        state.apply({"v": 1, "ts": f"2026-12-03T00:00:{i:02d}.000Z", **ev})
    return state


def created(e: Entry, session: str, run_id: str = "r1", **more: Any) -> dict[str, Any]:
    return {
        "event": "created",
        "entry": e.entry_id,
        "name": e.name,
        "key": e.key,
        "content": e.content,
        "run_id": run_id,
        "session_id": session,
        "batch": f"launcher-batch:{run_id}",
        **more,
    }


def test_an_entry_changed_since_sent_keeps_its_session_and_is_marked() -> None:
    sent = entry("a", "old")
    state = fold(created(sent, "s-a"))
    (target,) = for_entries([entry("a", "new")], state)
    assert (target.session_id, target.changed, target.key) == ("s-a", True, sent.key)
    assert target.subject.key == sent.key  # its lines go to the session's key
    (same,) = for_entries([sent], state)
    assert (same.session_id, same.changed) == ("s-a", False)


def test_a_newer_session_of_the_entry_is_followed() -> None:
    old, new = entry("a", "old"), entry("a", "new")
    failed = {**created(new, "x"), "event": "failed", "error": "boom"}
    del failed["session_id"]
    state = fold(created(old, "s-old"), created(new, "s-new"))
    assert for_entries([new], state)[0].session_id == "s-new"
    # A failed attempt at the changed request does not hide the live session.
    state = fold(created(old, "s-old"), failed)
    (target,) = for_entries([new], state)
    assert (target.session_id, target.changed) == ("s-old", True)


def test_another_run_key_holding_the_session_is_named() -> None:
    nightly = entry("a", run_key="nightly")
    state = fold(created(nightly, "s-a", run_key="nightly", api={"v": 1}))
    (target,) = for_entries([entry("a")], state)
    assert target.session_id is None
    assert target.create_error == (
        "not sent under run key ''; run key 'nightly' holds its session: pass --run-key nightly"
    )
    legacy = fold(created(nightly, "s-a"))  # an older launcher recorded no run key
    (target,) = for_entries([entry("a")], legacy)
    assert "another run key holds its session" in (target.create_error or "")
    assert "launcher run" not in (target.create_error or "")


def test_without_manifests_the_ledger_sessions_are_selected() -> None:
    a, b = entry("a"), entry("b", run_key="k2")
    state = fold(created(a, "s-a", "r1"), created(b, "s-b", "r2", run_key="k2"))
    every = for_ledger(state, LedgerSelection())
    assert [(t.entry.entry_id, t.session_id, t.changed) for t in every] == [
        ("m.yaml#a", "s-a", False),
        ("m.yaml#b", "s-b", False),
    ]
    assert [t.session_id for t in for_ledger(state, LedgerSelection(batch="r2"))] == ["s-b"]
    assert [t.session_id for t in for_ledger(state, LedgerSelection(run_key="k2"))] == ["s-b"]
    assert [t.session_id for t in for_ledger(state, LedgerSelection(run_key=""))] == ["s-a"]
    assert for_ledger(state, LedgerSelection(names=("z*",))) == []
