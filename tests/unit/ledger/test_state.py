"""Properties of the fold and of reading any truncation of a valid ledger (hypothesis)."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launcher.entry import Entry
from launcher.ledger.events import OUTCOMES
from launcher.ledger.read import read_state
from launcher.ledger.state import KeyRecord, LedgerState
from launcher.ledger.writer import LedgerWriter
from tests.support.budget import examples
from tests.support.ledgerkit import CREATED, event

KEYS = ("k0", "k1", "k2")
Event = tuple[str, str, int]  # (event, key, session number)
events_st = st.lists(
    st.tuples(st.sampled_from(OUTCOMES), st.sampled_from(KEYS), st.integers(0, 2)), max_size=12
)


def line(ev: Event) -> bytes:
    kind, key, n = ev
    extras: dict[str, dict[str, Any]] = {
        "sending": {"attempt": 1},
        "created": {"session_id": f"s{n}", "url": f"u{n}", "is_new_session": n != 2},
        "failed": {"error": "é boom", "status": 500},
        "in_doubt": {"error": "timeout"},
    }
    doc = {"v": 1, "ts": "2026-11-29T08:30:00.000Z", "event": kind, "entry": f"f#{key}"}
    doc |= {"name": key, "key": key, "run_id": "r", "content": "c", **extras[kind]}
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def model(events: list[Event]) -> dict[str, tuple[str, str | None, int]]:
    """key -> (outcome, session_id, attempts), computed the obvious way."""
    out: dict[str, tuple[str, str | None, int]] = {}
    for key in dict.fromkeys(k for _, k, _ in events):
        mine = [e for e in events if e[1] == key]
        attempts = sum(e[0] == "sending" for e in mine)
        first_created = next((e for e in mine if e[0] == "created"), None)
        if first_created is not None:
            out[key] = ("created", f"s{first_created[2]}", attempts)
        else:
            out[key] = (mine[-1][0], None, attempts)
    return out


def folded(state: LedgerState) -> dict[str, tuple[str, str | None, int]]:
    return {r.key: (r.outcome, r.session_id, r.attempts) for r in state.records()}


def complete_prefix(events: list[Event], cut: int) -> list[Event]:
    """The events whose line survives a cut after `cut` bytes (its "\\n" may be lost)."""
    kept, end = [], 0
    for ev in events:
        end += len(line(ev))
        if end - 1 > cut:
            break
        kept.append(ev)
    return kept


@settings(max_examples=examples(200), deadline=None)
@given(events_st)
@pytest.mark.slow
def test_fold_matches_the_model(events: list[Event]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "l.jsonl"
        path.write_bytes(b"".join(map(line, events)))
        state = read_state(path)
    assert folded(state) == model(events)
    doubled = {
        k for k in KEYS if len({n for e, key, n in events if e == "created" and key == k}) > 1
    }
    assert len(state.warnings) == len(doubled)
    assert all("possible duplicate session" in w for w in state.warnings)
    assert list(folded(state)) == list(dict.fromkeys(k for _, k, _ in events))
    for key in KEYS:
        created = state.created_for_name(key)
        assert [r.key for r in created] == (
            [key] if model(events).get(key, ("",))[0] == "created" else []
        )


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(events_st, st.floats(0, 1))
def test_any_truncation_reads_and_repairs(events: list[Event], where: float) -> None:
    data = b"".join(map(line, events))
    cut = round(where * len(data))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "l.jsonl"
        path.write_bytes(data[:cut])
        survivors = complete_prefix(events, cut)
        assert folded(read_state(path)) == model(survivors)

        async def append_one() -> None:
            with LedgerWriter.open(path, "r2") as w:
                assert folded(w.state) == model(survivors)
                e = Entry(name="later", file="f", path="f", line=1, request={"prompt": "p"})
                await w.append("sending", e, attempt=1)

        anyio.run(append_one)
        after = read_state(path)
        assert not [w for w in after.warnings if "incomplete" in w]
        assert folded(after) == {**model(survivors), after.records()[-1].key: ("sending", None, 1)}


@pytest.mark.slow
def test_every_truncation_point_of_one_file_reads() -> None:
    events: list[Event] = [("sending", "k0", 0), ("created", "k0", 1), ("failed", "k1", 0)]
    data = b"".join(map(line, events))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "l.jsonl"
        for cut in range(len(data) + 1):
            path.write_bytes(data[:cut])
            state = read_state(path)
            assert folded(state) == model(complete_prefix(events, cut)), cut
            # torn: the cut is inside a line, not at its end nor just before its "\n"
            torn = cut > 0 and data[cut - 1 : cut] != b"\n" and data[cut : cut + 1] != b"\n"
            assert len(state.warnings) == torn, cut


def test_a_folded_record_is_the_record_its_constructor_makes(tmp_path: Path) -> None:
    """The fold sets a record's fields straight into it (for speed): every field, each as
    KeyRecord(...) would, still frozen and hashable."""
    path = tmp_path / "l.jsonl"
    path.write_text(event("sending", attempt=1, timeout=30.0) + event("created", **CREATED))
    record = read_state(path).get("k1")
    assert record is not None
    values = {f.name: getattr(record, f.name) for f in dataclasses.fields(KeyRecord)}
    assert set(vars(record)) == set(values)
    made = KeyRecord(**values)
    assert record == made and hash(record) == hash(made) and repr(record) == repr(made)
    assert (record.outcome, record.attempts, record.timeout) == ("created", 1, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.session_id = "devin-2"  # type: ignore[misc]


def test_fold_latest_wins_created_is_sticky_and_attempts_count(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text(
        event("sending", attempt=1)
        + event("failed", error="boom", status=500)
        + "\n"  # empty lines are ignored
        + event("sending", attempt=2)
        + event("created", **CREATED)
        + event("failed", error="late", status=500)
        + event("sending", key="k2", name="t2", attempt=1)
        + event("in_doubt", key="k2", name="t2", error="read timeout")
    )
    state = read_state(path)
    k1, k2 = state.get("k1"), state.get("k2")
    assert k1 is not None and k2 is not None
    assert (k1.outcome, k1.session_id, k1.attempts, k1.error) == ("created", "devin-1", 2, None)
    assert (k2.outcome, k2.error, k2.attempts) == ("in_doubt", "read timeout", 1)
    assert [r.key for r in state.records()] == ["k1", "k2"]
    assert state.created_for_name("t1") == [k1] and state.created_for_name("t2") == []
    assert state.warnings == []
