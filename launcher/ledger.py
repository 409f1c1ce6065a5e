"""The ledger (SPEC §5–6): append-only JSON Lines, written durably under an exclusive lock,
and folded into the state of each dispatch key and the summary of each entry.

It is the record of truth for "exactly one session per task": a key recorded `created`
is never sent again, so a `created` line is never skipped, lost or guessed at.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import socket
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.to_thread

from launcher.entry import Entry
from launcher.errors import LedgerError, LedgerLocked

VERSION = 1
OUTCOMES = ("sending", "created", "failed", "in_doubt")
# Follow-through events (SPEC §9): they never change a key's dispatch outcome.
FOLLOW_EVENTS = ("status", "cancelled", "message")
EVENTS = OUTCOMES + FOLLOW_EVENTS
_JSON = (dict, list, str, int, float, bool, None)
SUMMARY_OUTCOMES = ("created", "adopted", "failed", "in_doubt", "pending")
LOCK_SUFFIX = ".lock"
_HEADER = ("v", "ts", "event", "entry", "name", "key", "run_id", "content")
_REQUIRED_STR = ("ts", "entry", "name", "key", "run_id")
# field -> (allowed types, required) per event; None stands for JSON null.
_FIELDS: dict[str, dict[str, tuple[tuple[type | None, ...], bool]]] = {
    "sending": {
        "attempt": ((int,), False),
        "timeout": ((int, float), False),
        "batch": ((str,), False),
    },
    "created": {
        "session_id": ((str,), True),
        "batch": ((str,), False),
        "url": ((str, None), False),
        "is_new_session": ((bool, None), False),
        "reconciled": ((bool,), False),
    },
    "failed": {
        "error": ((str, None), False),
        "status": ((int, None), False),
        "retry_at": ((str,), False),
        "at_capacity": ((bool,), False),
    },
    "in_doubt": {"error": ((str, None), False)},
    "status": {
        "session_id": ((str,), True),
        "status_enum": ((str, None), True),
        "structured_output": (_JSON, False),
        "pull_request_url": ((str, None), False),
        "output_valid": ((bool, None), False),
        "output_errors": ((list,), False),
    },
    "cancelled": {"session_id": ((str,), True), "detail": ((str,), False)},
    "message": {
        "session_id": ((str,), True),
        "digest": ((str,), True),
        "state": ((str,), True),
        "text": ((str,), False),
        "error": ((str, None), False),
    },
}


@dataclass(frozen=True)
class KeyRecord:
    """The folded state of one dispatch key."""

    entry: str  # "FILE#NAME"
    name: str
    key: str
    content: str  # Entry.content: hash of name + request without secret values
    outcome: str  # one of OUTCOMES: the latest event, except that `created` is sticky
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
        self._last: dict[str, int] = {k: i for i, k in enumerate(self._by_key)}
        self.warnings: list[str] = list(warnings or ())
        self._created_by_name: dict[str, list[KeyRecord]] | None = None
        # key -> slot ("status", "cancelled", "message:DIGEST") -> (index, latest event)
        self._follow: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {}

    def follow(self, key: str) -> dict[str, tuple[int, dict[str, Any]]]:
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

    def _apply(self, ev: dict[str, Any], index: int) -> None:
        self._created_by_name = None
        if ev["event"] in FOLLOW_EVENTS:
            slot = ev["event"] + (f":{ev['digest']}" if ev["event"] == "message" else "")
            self._follow.setdefault(ev["key"], {})[slot] = (index, ev)
            self._last[ev["key"]] = index
            return
        old = self._by_key.get(ev["key"])
        attempts = (old.attempts if old else 0) + (ev["event"] == "sending")
        self._last[ev["key"]] = index
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


# --- reading ------------------------------------------------------------------------


@dataclass
class _Parsed:
    state: LedgerState
    keep: int  # bytes to keep: the end of the last complete line
    add_newline: bool = False  # the last line is complete JSON but lost its "\n"


def _io_error(path: Path, exc: OSError, doing: str) -> LedgerError:
    """One line that names the path and the fix, for every way a path can be unusable."""
    fixes = {
        errno.ENOTDIR: "a part of that path is a file, not a folder; pass another --ledger",
        errno.EEXIST: "a part of that path is a file, not a folder; pass another --ledger",
        errno.EISDIR: "that path is a folder; pass a file path to --ledger",
        errno.EACCES: "permission denied; fix the permissions or pass another --ledger",
        errno.EPERM: "operation not permitted; pass another --ledger",
        errno.EROFS: "the file system is read-only; pass another --ledger",
        errno.ENOSPC: "the disk is full; free some space and run again",
        errno.ENAMETOOLONG: "the path is too long; pass a shorter --ledger",
    }
    fix = fixes.get(exc.errno or 0, exc.strerror or str(exc))
    return LedgerError(f"cannot {doing} {path}: {fix}")


def _type_ok(value: Any, types: tuple[type | None, ...]) -> bool:
    for t in types:
        if t is None and value is None:
            return True
        # bool is an int in Python but not in the ledger: `status: true` is damage.
        if t is not None and isinstance(value, t) and (t is bool) == isinstance(value, bool):
            return True
    return False


def _check_event(obj: Any) -> str | None:
    """Why a decoded line is not a valid v1 event of a known type, or None when it is one."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    if obj.get("v") != VERSION or isinstance(obj.get("v"), bool):
        return "field 'v' is not 1"
    if obj.get("event") not in EVENTS:
        return f"unknown event {obj.get('event')!r}"
    for name in _REQUIRED_STR:
        if not isinstance(obj.get(name), str):
            return f"field {name!r} is missing or not a string"
    if not isinstance(obj.get("content", ""), str):
        return "field 'content' is not a string"
    for name, (types, required) in _FIELDS[obj["event"]].items():
        if name not in obj and required:
            return f"field {name!r} is missing"
        if name in obj and not _type_ok(obj[name], types):
            return f"field {name!r} has the wrong type"
    return None


def _ignored_kind(obj: Any) -> str | None:
    """Lines a newer launcher may write: skipped (and counted) rather than called damage."""
    if not isinstance(obj, dict):
        return None
    v = obj.get("v")
    if isinstance(v, int) and not isinstance(v, bool) and v > VERSION:
        return f"of ledger version {v}"
    if v == VERSION and obj.get("event") not in EVENTS:
        return f"of unknown type {obj.get('event')!r}"
    return None


def _lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, line) for each non-blank line. Binary iteration splits on
    b"\\n" only, so a U+2028 inside a string is never taken for a line end."""
    offset = 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                yield number, offset, line
            offset += len(line)


def _decode(line: bytes) -> Any:
    """The line's JSON value; raises ValueError (UnicodeDecodeError included) if invalid."""
    obj = json.loads(line.decode("utf-8"))  # strictly UTF-8: no encoding sniffing
    if not line.endswith(b"\n") and not isinstance(obj, dict):
        raise ValueError("incomplete")  # b"12" may be the start of b"123"
    return obj


def _parse(path: Path) -> _Parsed:
    state = LedgerState()
    ignored: Counter[str] = Counter()
    sessions: dict[str, set[str]] = {}
    keep, add_newline, index = 0, False, 0
    try:
        lines = list(_lines(path))
    except FileNotFoundError:
        lines = []
    except OSError as exc:  # a part of the path is a file, permission denied...
        raise _io_error(path, exc, "read ledger") from None
    for i, (number, offset, line) in enumerate(lines):
        try:
            obj = _decode(line)
        except ValueError:
            if i + 1 < len(lines):
                raise LedgerError(
                    f"ledger {path} is damaged at line {number}: not valid JSON; repair that "
                    "line by hand or restore a backup (never drop a `created` line: it is what "
                    "stops a task from being sent twice)"
                ) from None
            # Only the last line can be torn by a crash mid-write, and its append never
            # returned, so nothing was sent on its account.
            state.warnings.append(
                f"ignored an incomplete last line (line {number}) of ledger {path}: "
                "a crash mid-write, or a write in progress"
            )
            break
        # A complete line that lost only its "\n" is kept: it may be a `created`.
        keep, add_newline = offset + len(line), not line.endswith(b"\n")
        kind = _ignored_kind(obj)
        if kind is not None:
            ignored[kind] += 1
            continue
        why = _check_event(obj)
        if why is not None:
            raise LedgerError(
                f"ledger {path} is damaged at line {number}: {why}; repair that line by hand "
                "or restore a backup"
            )
        if obj["event"] == "created":
            sessions.setdefault(obj["key"], set()).add(obj["session_id"])
        state._apply(obj, index)
        index += 1
    for kind, n in ignored.items():
        state.warnings.append(f"ignored {n} event{'s' * (n > 1)} {kind} (from a newer launcher?)")
    for key, ids in sessions.items():
        if len(ids) > 1:
            state.warnings.append(
                f"key {key} ({state._by_key[key].entry}) was recorded created {len(ids)} times "
                f"with different sessions ({', '.join(sorted(ids))}): possible duplicate "
                "session; the first one counts"
            )
    return _Parsed(state, keep, add_newline)


def read_state(path: str | os.PathLike[str]) -> LedgerState:
    """Fold a ledger without locking it (plan, summary); a missing file is an empty state."""
    return _parse(Path(path)).state


# --- writing ------------------------------------------------------------------------


def timestamp(after: float = 0.0) -> str:
    """The ledger's time format (ISO 8601 UTC, milliseconds, Z), now or `after` s from now."""
    when = datetime.now(timezone.utc) + timedelta(seconds=after)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now() -> str:
    return timestamp()


def new_run_id() -> str:
    """A sortable, practically unique run id, e.g. 20261129T083000Z-3f9a1c."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _holder(lock_fd: int) -> str:
    try:
        info = json.loads(os.pread(lock_fd, 4096, 0))
        return (
            f"run {info['run_id']} (pid {info['pid']} on {info['host']}, since {info['started']})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "another run"  # it locked the file but has not written its name yet


def _take_lock(path: Path, run_id: str) -> int:
    """flock (not fcntl/lockf): owned by this open file description, so even a second open
    in this very process conflicts, and the kernel drops it when the holder dies."""
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _io_error(lock_path, exc, "create lock file") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _holder(fd)
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise LedgerLocked(
                f"ledger {path} is held by {holder}; wait for it to finish or use another --ledger"
            ) from None
        raise _io_error(path, exc, "lock ledger") from None
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "run_id": run_id,
        "started": _now(),
        "argv0": sys.argv[0] if sys.argv else "",
    }
    with contextlib.suppress(OSError):  # the name is a courtesy; the flock is the lock
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    return fd


def _release(lock_fd: int) -> None:
    with contextlib.suppress(OSError):
        os.ftruncate(lock_fd, 0)  # an empty lock file reads as "nobody is running"
    os.close(lock_fd)


class LedgerWriter:
    """Exclusive, durable, append-only writer for one ledger; one per run.

    `append` is called from tasks of one event loop. Each line goes to the file at once in
    one os.write on an O_APPEND fd (order kept, never split); the fsync that makes it
    durable is shared by every line written before it started (group commit).
    """

    def __init__(self, path: Path, run_id: str, fd: int, lock_fd: int, state: LedgerState):
        self.path = path
        self.run_id = run_id
        self.state = state  # as read at open time, under the lock
        self._fd: int | None = fd
        self._lock_fd = lock_fd
        self._written = 0  # lines written (sequence number of the last one)
        self._synced = 0  # lines known durable
        self._sync_lock = anyio.Lock()
        self._broken: str | None = None  # after a failed write/fsync nothing is trusted

    @classmethod
    def open(cls, path: str | os.PathLike[str], run_id: str) -> LedgerWriter:
        p = Path(path)
        if p.is_dir():  # checked first so that no lock file is left beside a folder
            raise _io_error(p, IsADirectoryError(errno.EISDIR, "Is a directory"), "open ledger")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _io_error(p, exc, "create the folder of ledger") from None
        lock_fd = _take_lock(p, run_id)
        try:
            is_new = not p.exists()
            fd = os.open(p, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                parsed = _parse(p)
                # Repair the tail under the lock, or the next line would be glued to it.
                if parsed.add_newline:
                    os.write(fd, b"\n")
                    os.fsync(fd)
                elif os.fstat(fd).st_size > parsed.keep:
                    os.ftruncate(fd, parsed.keep)
                    os.fsync(fd)
                if is_new:  # make the new file's name durable too
                    dir_fd = os.open(p.parent, os.O_RDONLY)
                    try:
                        os.fsync(dir_fd)
                    finally:
                        os.close(dir_fd)
            except BaseException:
                os.close(fd)
                raise
        except OSError as exc:
            _release(lock_fd)
            raise _io_error(p, exc, "open ledger") from None
        except BaseException:
            _release(lock_fd)
            raise
        return cls(p, run_id, fd, lock_fd, parsed.state)

    def _fd_or_raise(self) -> int:
        if self._broken is not None:
            raise LedgerError(self._broken)
        if self._fd is None:
            raise LedgerError(f"ledger {self.path} is closed")
        return self._fd

    def _fail(self, exc: OSError) -> LedgerError:
        error = _io_error(self.path, exc, "write ledger")
        self._broken = str(error)
        return error

    def _encode(self, event: str, entry: Entry, fields: dict[str, Any]) -> bytes:
        values = (VERSION, _now(), event, entry.entry_id, entry.name, entry.key, self.run_id)
        record: dict[str, Any] = dict(zip(_HEADER, (*values, entry.content), strict=True))
        if set(fields) & set(record):
            raise ValueError(f"fields {sorted(set(fields) & set(record))} are set by the ledger")
        record.update(fields)
        # Refuse to write what the reader would call damage: it would stop every later run.
        why = _check_event(record)
        if why is not None:
            raise ValueError(f"not a valid ledger event: {why}")
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return (text + "\n").encode()

    async def append(self, event: str, entry: Entry, **fields: Any) -> None:
        """Write one event; return once it is durable (written and fsync'd)."""
        data = self._encode(event, entry, fields)
        fd = self._fd_or_raise()
        try:
            done = os.write(fd, data)
            while done < len(data):  # a short write (disk nearly full); nothing interleaves
                done += os.write(fd, data[done:])
        except OSError as exc:
            raise self._fail(exc) from None
        self._written += 1
        seq = self._written
        # Shielded: once written, the line is made durable even if the caller is cancelled,
        # so a `created` never sits unsynced; the cancellation lands at the next checkpoint.
        with anyio.CancelScope(shield=True):
            while self._synced < seq:
                async with self._sync_lock:
                    if self._synced >= seq:
                        break
                    fd = self._fd_or_raise()
                    target = self._written  # everything written so far is covered
                    try:
                        await anyio.to_thread.run_sync(os.fsync, fd)
                    except OSError as exc:
                        raise self._fail(exc) from None
                    self._synced = max(self._synced, target)

    def close(self) -> None:
        """Final flush+fsync, then release the lock. Idempotent. Call after appends return."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self._written > self._synced and self._broken is None:
                os.fsync(fd)
                self._synced = self._written
        except OSError as exc:
            raise self._fail(exc) from None
        finally:
            os.close(fd)
            _release(self._lock_fd)

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# --- summary ------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryEntry:
    """The latest outcome of one entry id (`FILE#NAME`), across all its keys."""

    entry: str
    name: str
    key: str
    content: str
    outcome: str  # one of SUMMARY_OUTCOMES
    session_id: str | None
    url: str | None
    is_new_session: bool | None
    reconciled: bool
    error: str | None
    status: int | None
    retry_at: str | None
    at_capacity: bool
    timeout: float | None
    batch: str | None
    attempts: int
    ts: str
    run_id: str
    status_enum: str | None = None  # the latest status `watch` recorded, "cancelled"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LedgerSummary:
    path: str
    # created: new sessions (is_new_session not false); adopted: is_new_session false;
    # pending: the latest event is `sending` (interrupted; the next run resolves it), or a
    # `failed` marked at_capacity (refused at the concurrent-session limit, never sent on).
    counts: dict[str, int]
    entries: list[SummaryEntry]
    failures: list[SummaryEntry]  # failed and in_doubt entries
    warnings: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)  # latest session status counts

    @property
    def has_problems(self) -> bool:
        return bool(self.counts["failed"] or self.counts["in_doubt"])


def _summary_outcome(r: KeyRecord) -> str:
    if r.outcome == "created":
        return "adopted" if r.is_new_session is False else "created"
    # A capacity refusal is no failure: the entry waits for a slot (SPEC §9 Capacity).
    return "pending" if r.outcome == "sending" or r.at_capacity else r.outcome


def summarize(path: str | os.PathLike[str]) -> LedgerSummary:
    """Fold a ledger into the latest outcome per entry id; a missing file is an error."""
    p = Path(path)
    if not p.exists():
        raise LedgerError(f"no ledger at {p}; pass the file that `launcher run --ledger` wrote")
    state = read_state(p)
    # An entry id can have several keys (its content or the run key changed): the key
    # whose latest event comes last in the file tells the entry's current outcome.
    latest: dict[str, KeyRecord] = {}
    for r in state.records():
        seen = latest.get(r.entry)
        if seen is None or state._last[r.key] > state._last[seen.key]:
            latest[r.entry] = r
    entries = [
        SummaryEntry(
            **{**asdict(r), "outcome": _summary_outcome(r)},
            status_enum=_latest_status(state, r) if r.outcome == "created" else None,
        )
        for r in latest.values()
    ]
    counts = dict.fromkeys(SUMMARY_OUTCOMES, 0)
    counts.update(Counter(e.outcome for e in entries))
    failures = [e for e in entries if e.outcome in ("failed", "in_doubt")]
    watched = [e for e in entries if e.outcome in ("created", "adopted")]
    # Only once `watch` has recorded something: a ledger it never saw reads as before.
    statuses = Counter(e.status_enum or "not watched" for e in watched)
    if not any(e.status_enum for e in watched):
        statuses.clear()
    return LedgerSummary(
        str(p), counts, entries, failures, list(state.warnings), dict(sorted(statuses.items()))
    )


def _latest_status(state: LedgerState, r: KeyRecord) -> str | None:
    """The latest recorded status of a created key: a `status` event, or `cancelled` after it."""
    follow = state.follow(r.key)
    status, cancelled = follow.get("status"), follow.get("cancelled")
    if cancelled is not None and (status is None or cancelled[0] > status[0]):
        return "cancelled"
    return None if status is None else status[1].get("status_enum") or "unknown"
