"""The fold: every dispatch key's latest record, built one event at a time.

`apply` is the one way in and `created`, `get`, `records` and `latest` the ways out, so
reader, writer and summary share one idea of what a key's state is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from launcher.ledger.events import FOLLOW_EVENTS, Outcome


class EntryState(StrEnum):
    """What became of an entry's request: the one set of states that the fold, `run` and
    `rerun`, `ledger summary`, `ledger batches` and follow-up count entries in."""

    CREATED = "created"  # a new session (is_new_session not false)
    ADOPTED = "adopted"  # the API answered with a session that already existed
    SKIPPED = "skipped"  # `run`: an earlier run created it
    FAILED = "failed"
    IN_DOUBT = "in_doubt"  # sent, and whether it was created is not known
    # Not sent, or sent with no effect: interrupted before its answer (the next run
    # resolves it), refused at the concurrent-session limit, refused as a wrong address.
    PENDING = "pending"

    @property
    def label(self) -> str:
        """As a person reads it: `in doubt`."""
        return self.value.replace("_", " ")

    @property
    def has_session(self) -> bool:
        return self in _WITH_SESSION

    @property
    def problem(self) -> bool:
        """Failed or in doubt: the user is to look at it."""
        return self in _PROBLEMS


_WITH_SESSION = frozenset({EntryState.CREATED, EntryState.ADOPTED, EntryState.SKIPPED})
_PROBLEMS = frozenset({EntryState.FAILED, EntryState.IN_DOUBT})
# The states a ledger holds (`skipped` is what a run makes of a created one).
LEDGER_STATES = tuple(s for s in EntryState if s is not EntryState.SKIPPED)


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
    void: bool = False  # refused as a wrong address (404/405): never took effect, pending
    timeout: float | None = None  # the request's timeout, from its `sending` event
    batch: str | None = None  # the batch tag its session carries, if recorded
    attempts: int = 0  # number of `sending` events for this key
    ts: str = ""  # timestamp of the latest event that counted
    run_id: str = ""
    api: Mapping[str, Any] | None = None  # the `api` field: where its session lives
    run_key: str | None = None  # the run key it was sent under; None: not recorded (older)
    rerun: int = 0  # how many times `launcher rerun` gave the entry a new session
    rerun_of: str | None = None  # the session the latest rerun replaced

    @property
    def entry_id(self) -> str:
        return self.entry

    @property
    def state(self) -> EntryState:
        """The one state the entry is counted in, from its latest event."""
        if self.outcome == "created":
            return EntryState.ADOPTED if self.is_new_session is False else EntryState.CREATED
        # A capacity refusal is no failure: the entry waits for a slot.
        if self.outcome == "sending" or self.at_capacity or self.void:
            return EntryState.PENDING
        return EntryState.FAILED if self.outcome == "failed" else EntryState.IN_DOUBT


class LedgerState:
    """Every key's folded record, in first-seen order, plus what reading had to say.

    `apply` runs once per line of a ledger that may hold a million, so it only notes each
    key's latest counting event; the `KeyRecord` is made from it when first asked for. The
    notes are plain dicts of untracked values: no object per key for the garbage collector.
    """

    def __init__(self) -> None:
        self._latest: dict[str, Mapping[str, Any]] = {}  # key -> latest event that counted
        self._attempts: dict[str, int] = {}  # key -> its `sending` events
        self._first_sent: dict[str, str] = {}  # key -> timestamp of its first `sending`
        self._batch_before: dict[str, str | None] = {}  # the batch of the record it replaced
        self._made: dict[str, KeyRecord] = {}  # records made since their key's latest event
        self._order: dict[str, int] = {}  # key -> position of its latest event
        self._events = 0
        self.warnings: list[str] = []
        self._created_by_name: dict[str, list[KeyRecord]] | None = None
        self._holders: dict[str, KeyRecord] | None = None
        # key -> slot ("status", "cancelled", "message:DIGEST") -> (position, latest event)
        self._follow: dict[str, dict[str, tuple[int, Mapping[str, Any]]]] = {}
        # The APIs the events name (their `api` fields), in first-seen order, and whether
        # a session was sent or created by a launcher that named none (an older one).
        self.apis: list[Mapping[str, Any]] = []
        self.unmarked = False
        self._last_api: Mapping[str, Any] | None = None
        self._reruns: dict[str, tuple[int, str | None]] = {}  # key -> latest rerun, of what
        self._voided = False  # some request never took effect (a wrong address)
        # (the API's record as JSON, content sha256) -> the latest `attachment` event
        self._uploads: dict[tuple[str, str], Mapping[str, Any]] = {}

    def live_apis(self) -> list[Mapping[str, Any]]:
        """`apis`, less those named only by requests that never took effect (`void`: a
        wrong address answered 404/405): no session can live there."""
        if not self._voided:
            return self.apis
        named = [ev.get("api") for ev in self._latest.values() if not ev.get("void")]
        named += [ev.get("api") for slots in self._follow.values() for _, ev in slots.values()]
        return [api for api in self.apis if api in named]

    def uploaded(self, sha256: str, api: Mapping[str, Any] | None) -> str | None:
        """The URL an attachment with this content got from `api`, if it was uploaded."""
        ev = self._uploads.get((_api_key(api), sha256))
        return None if ev is None else str(ev["url"])

    def uploads(self) -> list[Mapping[str, Any]]:
        """The latest `attachment` event of each content and API (what compaction keeps)."""
        return list(self._uploads.values())

    def follow(self, key: str) -> dict[str, tuple[int, Mapping[str, Any]]]:
        """The latest follow-through event of each kind for `key`, with its position."""
        return dict(self._follow.get(key, {}))

    def get(self, key: str) -> KeyRecord | None:
        return self._record(key) if key in self._latest else None

    def created(self, key: str) -> KeyRecord | None:
        """The record of `key` if it is created (never to be sent again), else None."""
        record = self.get(key)
        return record if record is not None and record.outcome == "created" else None

    def held_by(self, session_id: str) -> KeyRecord | None:
        """The first created record that holds `session_id` (two entries may share one)."""
        if self._holders is None:
            holders: dict[str, KeyRecord] = {}
            for r in self.records():
                if r.outcome == "created" and r.session_id is not None:
                    holders.setdefault(r.session_id, r)
            self._holders = holders
        return self._holders.get(session_id)

    def first_sent(self, key: str) -> str | None:
        """When `key` was first sent, as this ledger tells (a compacted one may not)."""
        return self._first_sent.get(key)

    def known_sessions(self, key: str) -> list[str]:
        """Every session id the ledger has seen for `key` (its record, follow-through)."""
        ids: list[str] = []
        held = self._latest.get(key)
        if held is not None and isinstance(held.get("session_id"), str):
            ids.append(held["session_id"])
        for _, ev in self._follow.get(key, {}).values():
            ids.append(ev["session_id"])
        return list(dict.fromkeys(ids))

    def created_for_name(self, name: str) -> list[KeyRecord]:
        # Indexed once: `plan` asks for every entry, and a scan each time is quadratic.
        if self._created_by_name is None:
            index: dict[str, list[KeyRecord]] = {}
            for r in self.records():
                if r.outcome == "created":
                    index.setdefault(r.name, []).append(r)
            self._created_by_name = index
        return list(self._created_by_name.get(name, ()))

    def records(self) -> list[KeyRecord]:
        return [self._record(key) for key in self._latest]

    def latest(self) -> list[KeyRecord]:
        """One record per entry id (`FILE#NAME`): of its keys (its content or the run key
        changed), the one whose latest event came last."""
        order = self._order
        by_entry: dict[str, str] = {}
        for key, ev in self._latest.items():
            seen = by_entry.get(ev["entry"])
            if seen is None or order[key] > order[seen]:
                by_entry[ev["entry"]] = key
        return [self._record(key) for key in by_entry.values()]

    def current(self) -> list[KeyRecord]:
        """One record per entry id, the one every count counts: its latest record, or the
        latest session under that record's run key when there is one (a changed request
        that failed to create does not hide the session its entry has)."""
        return [self.current_of(records) for records in self.by_entry().values()]

    def current_of(self, records: list[KeyRecord], *, one_run_key: bool = False) -> KeyRecord:
        """Of some records of one entry, the latest, or the latest created one of its run
        key. `one_run_key`: the records are known to share one run key (older launchers
        did not record it, and an edit is then told from a new run key only so)."""
        order = self._order
        latest = max(records, key=lambda r: order[r.key])
        if not one_run_key and latest.run_key is None:
            return latest
        created = [
            r
            for r in records
            if r.outcome == "created" and (one_run_key or r.run_key == latest.run_key)
        ]
        return max(created, key=lambda r: order[r.key]) if created else latest

    def position(self, key: str) -> int:
        """Where the key's latest event (of any kind) came among every event folded."""
        return self._order[key]

    def by_entry(self) -> dict[str, list[KeyRecord]]:
        """Every record, grouped by entry id, in the order the ledger first saw each."""
        grouped: dict[str, list[KeyRecord]] = {}
        for record in self.records():
            grouped.setdefault(record.entry, []).append(record)
        return grouped

    def apply(self, ev: Mapping[str, Any]) -> None:
        """Fold one event that `events.check_event` accepted; the state keeps `ev`, which
        must not change afterwards."""
        self._created_by_name = self._holders = None
        key, event = ev["key"], ev["event"]
        api = ev.get("api")
        if api is None:
            if event == "created" or event == "sending":
                self.unmarked = True
        elif api != self._last_api:
            self._last_api = api
            if api not in self.apis:
                self.apis.append(api)
        if event == "attachment":  # not an entry: the content's upload, by API
            self._uploads[(_api_key(api), ev["sha256"])] = ev
            return
        self._order[key] = self._events
        self._events += 1
        if event == "failed" and ev.get("void"):
            self._voided = True
        if event in _FOLLOW:
            slot = event + (f":{ev['digest']}" if event == "message" else "")
            self._follow.setdefault(key, {})[slot] = (self._events, ev)
            return
        if event == "sending" and key not in self._first_sent:
            self._first_sent[key] = ev["ts"]
        held = self._latest.get(key)
        rerun = ev.get("rerun")
        if held is None:
            self._latest[key] = ev
            self._attempts[key] = int(event == "sending")
            if rerun:  # a compacted ledger's one line of a rerun entry
                self._reruns[key] = (rerun, ev.get("rerun_of"))
            return
        if self._made:
            self._made.pop(key, None)
        if event == "sending":
            self._attempts[key] += 1
        if rerun is not None and rerun > self._reruns.get(key, (0, None))[0]:
            # `launcher rerun`: a new session for the key, on purpose. The old session's
            # follow-through is history; the new one is followed from here on.
            self._reruns[key] = (rerun, ev.get("rerun_of"))
            self._follow.pop(key, None)
        elif held["event"] == "created":
            # Sticky: a created key is never sent again, so whatever follows is an anomaly
            # that must not hide the session; only the attempt count keeps growing.
            return
        self._batch_before[key] = held.get("batch", self._batch_before.get(key))
        self._latest[key] = ev

    def _record(self, key: str) -> KeyRecord:
        """The key's KeyRecord, made (and kept) on first use after its latest event."""
        record = self._made.get(key)
        if record is not None:
            return record
        ev = self._latest[key]
        # The fields set straight into a new instance: a frozen dataclass's __init__ costs
        # 4 us a record, a tenth of a no-op re-run of 10,000 entries. Every field is given.
        record = object.__new__(KeyRecord)
        record.__dict__.update(
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
            void=bool(ev.get("void", False)),
            timeout=ev.get("timeout"),
            batch=ev.get("batch", self._batch_before.get(key)),
            attempts=self._attempts[key],
            ts=ev["ts"],
            run_id=ev["run_id"],
            api=ev.get("api"),
            run_key=ev.get("run_key", "" if "api" in ev else None),
            rerun=self._reruns[key][0] if key in self._reruns else 0,
            rerun_of=self._reruns[key][1] if key in self._reruns else None,
        )
        self._made[key] = record
        return record


_FOLLOW = frozenset(FOLLOW_EVENTS)


def _api_key(api: Mapping[str, Any] | None) -> str:
    return json.dumps(api, sort_keys=True) if api is not None else ""
