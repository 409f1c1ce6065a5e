"""Counts add up: over random ledger histories (sends, sessions created, failures, statuses,
cancels, reruns, requests edited after sending, a history split over two ledgers and
merged), `ledger summary`, `watch` (and `run --wait`, which shares its summary) and
`results` count every entry once, in one state, and agree with each other."""

from __future__ import annotations

import io
import json
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from launcher.api.target import ApiTarget
from launcher.entry import Entry
from launcher.follow.results import record_of
from launcher.follow.select import LedgerSelection, for_entries, for_ledger
from launcher.follow.targets import build_targets, state_counts
from launcher.ledger.events import check_event
from launcher.ledger.merge import merge_events
from launcher.ledger.summary import summary_of
from launcher.output.follow import WatchReporter

pytestmark = pytest.mark.slow

ACTIONS = ("send", "create", "fail", "doubt", "status", "cancel", "rerun", "rerun_fail")
API = ApiTarget("https://api.devin.ai").as_record()
STATUSES = ("working", "blocked", "finished", "expired")

step = st.tuples(
    st.sampled_from(ACTIONS),
    st.integers(0, 3),  # entry
    st.integers(0, 1),  # its request: as sent first, or edited since
    st.sampled_from(STATUSES),
    st.booleans(),  # which of two ledgers the event goes to
)


def entry(i: int, version: int) -> Entry:
    return Entry(f"e{i}", "m.yaml", "m.yaml", 1, {"prompt": f"task {i}, version {version}"})


class History:
    """Turns steps into valid ledger events, each with a later timestamp."""

    def __init__(self) -> None:
        self.events: list[tuple[bool, dict[str, Any]]] = []
        self.sessions: dict[str, str] = {}  # key -> its live session
        self.reruns: dict[str, int] = {}

    def add(self, second: bool, event: str, e: Entry, **fields: Any) -> None:
        n = len(self.events)
        ev = {
            "v": 1,
            "ts": f"2026-12-03T00:{n // 60:02d}:{n % 60:02d}.000Z",
            "event": event,
            "entry": e.entry_id,
            "name": e.name,
            "key": e.key,
            "run_id": "r1",
            "content": e.content,
            "api": API,
            **fields,
        }
        assert check_event(ev) is None, ev
        self.events.append((second, ev))

    def step(self, action: str, e: Entry, status: str, second: bool) -> None:
        session = self.sessions.get(e.key)
        n = len(self.events)
        if action == "send":
            self.add(second, "sending", e, attempt=1)
        elif action == "create":
            self.add(second, "sending", e, attempt=1)
            self.sessions.setdefault(e.key, f"s{n}")
            self.add(second, "created", e, session_id=self.sessions[e.key])
        elif action in ("fail", "doubt"):
            self.add(second, "failed" if action == "fail" else "in_doubt", e, error="x")
        elif action in ("status", "cancel") and session is not None:
            if action == "status":
                self.add(second, "status", e, session_id=session, status_enum=status)
            else:
                self.add(second, "cancelled", e, session_id=session, detail="terminated")
        elif action in ("rerun", "rerun_fail") and session is not None:
            rerun = self.reruns[e.key] = self.reruns.get(e.key, 0) + 1
            self.add(second, "sending", e, attempt=1, rerun=rerun, rerun_of=session)
            if action == "rerun":
                self.sessions[e.key] = f"s{n}"
                self.add(second, "created", e, session_id=f"s{n}", rerun=rerun)
            else:
                del self.sessions[e.key]
                self.add(second, "failed", e, error="refused", status=400)

    def write(self, folder: Path) -> list[Path]:
        paths = [folder / "a.jsonl", folder / "b.jsonl"]
        for i, path in enumerate(paths):
            lines = [json.dumps(ev) + "\n" for second, ev in self.events if second == bool(i)]
            path.write_text("".join(lines))
        return [p for p in paths if p.stat().st_size]


@settings(max_examples=200, deadline=None)
@given(st.lists(step, min_size=1, max_size=40))
def test_every_count_counts_each_entry_once_in_one_state(steps: list[Any]) -> None:
    history = History()
    for action, i, version, status, second in steps:
        history.step(action, entry(i, version), status, second)
    sent = {ev["entry"] for _, ev in history.events}
    assume(sent)
    with tempfile.TemporaryDirectory() as folder:
        state = merge_events(history.write(Path(folder))).state

    summary = summary_of("merged", state)
    assert sum(summary.counts.values()) == len(sent) == len(summary.entries)
    with_session = summary.counts["created"] + summary.counts["adopted"]
    if summary.statuses:
        assert sum(summary.statuses.values()) == with_session

    targets = for_ledger(state, LedgerSelection())  # watch, cancel, results without PATH
    assert len(targets) == len(sent)
    assert sum(state_counts(targets).values()) == len(sent)
    assert sum(t.session_id is not None for t in targets) == with_session
    # What `watch` and `run --wait` print: "N of M ended well (n1 s1, n2 s2, ...)".
    out = io.StringIO()
    WatchReporter(out, io.StringIO(), str, live=False).summary(targets, False, False, None, None)
    last = out.getvalue().splitlines()[-1]
    shown = re.search(r"(\d+) of (\d+) ended well \((.*)\)$", last)
    assert shown is not None, last
    assert int(shown[2]) == len(sent) == sum(int(p.split()[0]) for p in shown[3].split(", "))
    # The summary and the watch put each entry in the same state.
    watched = Counter(t.state for t in targets if t.session_id)
    summarised = Counter(
        e.status_enum or "unseen"
        for e in summary.entries
        if e.status_enum or (e.outcome in ("created", "adopted"))
    )
    assert watched == summarised
    records = [record_of(t) for t in targets]
    shown = {None: "unseen", "not_created": "not created"}
    assert Counter(shown.get(r["status"], r["status"]) for r in records) == state_counts(targets)

    # With the manifests, as they are now (some entries edited since sent).
    entries = [entry(i, 1) for i in range(4)]
    for chosen in (for_entries(entries, state), build_targets(entries, state)):
        assert len(chosen) == len(entries) == sum(state_counts(chosen).values())
    edited = for_entries(entries, state)
    assert sum(t.session_id is not None for t in edited) == sum(
        1 for e in summary.entries if e.outcome in ("created", "adopted")
    )
