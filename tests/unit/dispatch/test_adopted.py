"""Whose session an adopted entry got: another entry of the run, a ledger's entry, another
run's entry found by the session's tags, or an older session, said with its age."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from launcher.api.outcomes import LookupFailed, Outcome
from launcher.dispatch.adopted import Adoptions
from launcher.dispatch.results import EntryResult
from launcher.entry import TAG_PREFIX, Entry
from launcher.ledger.state import LedgerState


class Sessions:
    """GET /v1/sessions/{id} from a dict; LookupFailed for ids in `failing`."""

    def __init__(self, known: Mapping[str, Mapping[str, Any]], failing: Sequence[str] = ()):
        self.known, self.failing = dict(known), set(failing)

    async def create_session(self, body: Mapping[str, Any]) -> Outcome:
        raise AssertionError("not sent here")

    async def find_by_tag(self, tag: str, **_: Any) -> list[dict[str, Any]]:
        raise AssertionError("not looked up here")

    async def lookup_session(self, session_id: str) -> Mapping[str, Any] | None:
        if session_id in self.failing:
            raise LookupFailed("lookup failed: HTTP 500")
        return self.known.get(session_id)


def entry(name: str) -> Entry:
    request = {"prompt": "same", "idempotent": True}
    return Entry(name=name, file="m.yaml", path="m.yaml", line=1, request=request)


def result(e: Entry, sid: str, outcome: str) -> EntryResult:
    r = EntryResult(e)
    r.session_id, r.outcome = sid, outcome  # type: ignore[assignment]
    return r


A, B = entry("a"), entry("b")


def explain(adoptions: Adoptions, *results: EntryResult) -> list[str | None]:
    async def go() -> list[str | None]:
        return [await adoptions.explain(r) for r in results]

    return anyio.run(go)


def adoptions(sessions: Sessions, state: LedgerState | None = None) -> Adoptions:
    keys = [(e.key, e.entry_id) for e in (A, B)]
    return Adoptions(sessions, state or LedgerState(), keys)


def test_a_twin_of_this_run_is_named() -> None:
    said = explain(adoptions(Sessions({})), result(A, "s1", "created"), result(B, "s1", "adopted"))
    assert said[0] is None
    assert said[1] is not None and "m.yaml#b was answered with the session of m.yaml#a" in said[1]


def test_a_twin_answered_first_is_named_from_the_session_tags() -> None:
    session = {"session_id": "s1", "tags": [f"{TAG_PREFIX}{A.key}"], "created_at": "x"}
    [said] = explain(adoptions(Sessions({"s1": session})), result(B, "s1", "adopted"))
    assert said is not None and "the session of m.yaml#a" in said


def test_a_session_the_ledger_holds_for_another_entry_is_named() -> None:
    state = LedgerState()
    ev = {
        "v": 1, "ts": "2026-12-01T02:00:00.000Z", "event": "created", "entry": "old.yaml#x",
        "name": "x", "key": "k-old", "run_id": "r0", "content": "c", "session_id": "s1",
    }  # fmt: skip
    state.apply(ev)
    [said] = explain(adoptions(Sessions({}), state), result(A, "s1", "adopted"))
    assert said is not None
    assert "the session of old.yaml#x (recorded 2026-12-01T02:00:00.000Z)" in said


def test_an_older_session_is_said_with_its_age() -> None:
    old = (datetime.now(UTC) - timedelta(days=3, hours=1)).isoformat()
    session = {"session_id": "s1", "tags": [f"{TAG_PREFIX}{A.key}"], "created_at": old}
    [said] = explain(adoptions(Sessions({"s1": session})), result(A, "s1", "adopted"))
    assert said is not None
    assert "m.yaml#a was answered with session s1, created 3 days ago, before this run" in said


def test_its_own_session_of_this_run_says_nothing() -> None:
    now = datetime.now(UTC).isoformat()
    session = {"session_id": "s1", "tags": [f"{TAG_PREFIX}{A.key}"], "created_at": now}
    assert explain(adoptions(Sessions({"s1": session})), result(A, "s1", "adopted")) == [None]


def test_a_failed_lookup_still_warns_without_an_age() -> None:
    [said] = explain(adoptions(Sessions({}, failing=["s1"])), result(A, "s1", "adopted"))
    assert said is not None and "answered with session s1, before this run" in said
