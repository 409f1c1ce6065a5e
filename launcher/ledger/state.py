"""The fold: every dispatch key's latest record, built one event at a time.

`apply` is the one way in and `created`, `get`, `records` and `latest` the ways out, so
reader, writer and summary share one idea of what a key's state is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from launcher.ledger.events import FOLLOW_EVENTS, Outcome


@dataclass(frozen=True)
class KeyRecord:
    """The folded state of one dispatch key."""

    entry: str  # "FILE#NAME"
    name: str
    key: str
    content: str  # Entry.content: hash of name + request without secret values
    outcome: Outcome  # the latest event, except that `created` is sticky
    session_id: str | None = None
    url: str | None = None
    is_new_session: bool | None = None
    reconciled: bool = False  # created found by a GET lookup instead of a response
    error: str | None = None
    status: int | None = None
    retry_at: str | None = None  # a throttled request may not be resent before this time
    at_capacity: bool = False  # refused at the concurrent-session limit: still pending
    timeout: float | None = None  # the request's timeout, from its `sending` event
    batch: str | None = None  # the batch tag its session carries (SPEC §9), if recorded
    attempts: int = 0  # number of `sending` events for this key
    ts: str = ""  # timestamp of the latest event that counted
    run_id: str = ""


class LedgerState:
    """Every key's folded record, in first-seen order, plus what reading had to say."""

    def __init__(self, records: list[KeyRecord] | None = None, warnings: list[str] | None = None):
        self._by_key: dict[str, KeyRecord] = {r.key: r for r in records or ()}
        self._order: dict[str, int] = {k: i for i, k in enumerate(self._by_key)}
        self._events = len(self._order)
        self.warnings: list[str] = list(warnings or ())
        self._created_by_name: dict[str, list[KeyRecord]] | None = None
        # key -> slot ("status", "cancelled", "message:DIGEST") -> (position, latest event)
        self._follow: dict[str, dict[str, tuple[int, Mapping[str, Any]]]] = {}

    def follow(self, key: str) -> dict[str, tuple[int, Mapping[str, Any]]]:
        """The latest follow-through event of each kind for `key`, with its position."""
        return dict(self._follow.get(key, {}))

    def get(self, key: str) -> KeyRecord | None:
        return self._by_key.get(key)

    def created(self, key: str) -> KeyRecord | None:
        """The record of `key` if it is created (never to be sent again), else None."""
        record = self._by_key.get(key)
        return record if record is not None and record.outcome == "created" else None

    def created_for_name(self, name: str) -> list[KeyRecord]:
        # Indexed once: `plan` asks for every entry, and a scan each time is quadratic.
        if self._created_by_name is None:
            index: dict[str, list[KeyRecord]] = {}
            for r in self._by_key.values():
                if r.outcome == "created":
                    index.setdefault(r.name, []).append(r)
            self._created_by_name = index
        return list(self._created_by_name.get(name, ()))

    def records(self) -> list[KeyRecord]:
        return list(self._by_key.values())

    def latest(self) -> list[KeyRecord]:
        """One record per entry id (`FILE#NAME`): of its keys (its content or the run key
        changed), the one whose latest event came last."""
        by_entry: dict[str, KeyRecord] = {}
        for r in self._by_key.values():
            seen = by_entry.get(r.entry)
            if seen is None or self._order[r.key] > self._order[seen.key]:
                by_entry[r.entry] = r
        return list(by_entry.values())

    def apply(self, ev: Mapping[str, Any]) -> None:
        """Fold one event that `events.check_event` accepted."""
        self._created_by_name = None
        self._order[ev["key"]] = self._events
        self._events += 1
        if ev["event"] in FOLLOW_EVENTS:
            slot = ev["event"] + (f":{ev['digest']}" if ev["event"] == "message" else "")
            self._follow.setdefault(ev["key"], {})[slot] = (self._events, ev)
            return
        old = self._by_key.get(ev["key"])
        attempts = (old.attempts if old else 0) + (ev["event"] == "sending")
        if old is not None and old.outcome == "created":
            # Sticky: a created key is never sent again, so whatever follows is an anomaly
            # that must not hide the session; only the attempt count keeps growing.
            self._by_key[ev["key"]] = replace(old, attempts=attempts)
            return
        self._by_key[ev["key"]] = KeyRecord(
            entry=ev["entry"],
            name=ev["name"],
            key=ev["key"],
            content=ev.get("content", ""),
            outcome=ev["event"],
            session_id=ev.get("session_id"),
            url=ev.get("url"),
            is_new_session=ev.get("is_new_session"),
            reconciled=bool(ev.get("reconciled", False)),
            error=ev.get("error"),
            status=ev.get("status"),
            retry_at=ev.get("retry_at"),
            at_capacity=bool(ev.get("at_capacity", False)),
            timeout=ev.get("timeout"),
            batch=ev.get("batch", old.batch if old else None),
            attempts=attempts,
            ts=ev["ts"],
            run_id=ev["run_id"],
        )
