"""Reading a ledger file into its state: a file that is not a ledger is refused, damage is
an error that names the line, a torn last line (a crash mid-write) is a warning, and every
path problem says how to fix it."""

from __future__ import annotations

import errno
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from launcher.errors import LedgerError
from launcher.jsonio import JsonError
from launcher.ledger.events import check_event, decode, ignored_kind
from launcher.ledger.state import LedgerState

MAX_LINE = 1 << 20  # the launcher writes lines of a few hundred bytes; this bounds memory
LINE_START = b'{"v":'  # every line the launcher writes starts so (events.encode)
_UNREADABLE = object()


@dataclass
class Parsed:
    state: LedgerState
    keep: int  # bytes to keep: the end of the last complete line
    add_newline: bool = False  # the last line is complete JSON but lost its "\n"
    torn: bool = False  # the last line is torn: cut the file back to `keep`


def io_error(path: Path, exc: OSError, doing: str) -> LedgerError:
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
        errno.ENXIO: "that path is a socket or a device, not a file; pass another --ledger",
        errno.ELOOP: "that path is a loop of symbolic links; pass another --ledger",
    }
    fix = fixes.get(exc.errno or 0, exc.strerror or str(exc))
    return LedgerError(f"cannot {doing} {path}: {fix}")


def check_regular(path: Path, fd: int) -> None:
    """Refuse a FIFO, a device or a socket: reading one could hang or never end, and
    `/dev/null` as a ledger would forget every session it is told about."""
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        raise io_error(path, IsADirectoryError(errno.EISDIR, "Is a directory"), "read ledger")
    if not stat.S_ISREG(mode):
        raise LedgerError(
            f"ledger {path} is not a regular file (a FIFO, a device or a socket); "
            "pass the path of a file to --ledger"
        )


def _torn(line: bytes) -> bool:
    """Can `line`, the last one, be what a crash mid-write leaves? Only a start of a line
    the launcher writes, or the zeros of a block the file system allocated but never
    filled; a line that ended with "\\n" was written whole, so it is never torn."""
    if line.endswith(b"\n"):
        return False
    return line.startswith(LINE_START) or LINE_START.startswith(line) or not line.strip(b"\0")


def _looks_like_ledger(obj: Any, line: bytes, last: bool) -> bool:
    """The first line decides whether the file is a ledger at all: an event (of any
    version), a damaged or torn line the launcher wrote, and nothing else."""
    if isinstance(obj, dict) and "v" in obj and "event" in obj:
        return True
    return line.startswith(LINE_START) or (last and _torn(line))


def _lines(f: BinaryIO, path: Path) -> Iterator[tuple[int, int, bytes, bool]]:
    """(line number, byte offset, line, is it the last) for each non-blank line, read as
    a stream. Binary reading splits on b"\\n" only, so a U+2028 inside a string is never
    taken for a line end."""
    offset, number, pending = 0, 0, None
    while line := f.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            raise LedgerError(
                f"ledger {path} is damaged at line {number}: longer than {MAX_LINE} bytes, "
                "which the launcher never writes; is this file a ledger?"
            )
        if line[0] == 0x7B or line.strip():  # "{": a ledger's every line, not blank
            if pending is not None:
                yield (*pending, False)
            pending = (number, offset, line)
        offset += len(line)
    if pending is not None:
        yield (*pending, True)


def parse(f: BinaryIO, path: Path, on_accept: Callable[[], None] | None = None) -> Parsed:
    """Fold the ledger open as `f` (read from its start); `path` names it in messages.
    `on_accept` is called once the first line shows that the file is a ledger (or it is
    empty), before the rest is read; nothing is ever written here."""
    state = LedgerState()
    ignored: Counter[str] = Counter()
    # key -> its first session; and for a key created with another session too, all of
    # them (a set for every created key would cost a year-long ledger a garbage collection
    # every few hundred lines)
    first_session: dict[str, str] = {}
    sessions: dict[str, set[str]] = {}
    keep, add_newline, first = 0, False, True
    for number, offset, line, last in _lines(f, path):
        why_unreadable = "not valid JSON"
        try:
            obj = decode(line)
        except JsonError as exc:
            obj, why_unreadable = _UNREADABLE, str(exc)
        except ValueError:
            obj = _UNREADABLE
        if first:
            first = False
            if not _looks_like_ledger(obj, line, last):
                raise LedgerError(
                    f"{path} does not look like a launcher ledger: line {number} is not a "
                    "ledger event; it was left as it is. Pass the path of a ledger, or of a "
                    "new file, to --ledger"
                )
            if on_accept is not None:
                on_accept()
        if obj is _UNREADABLE:
            if not (last and _torn(line)):
                raise LedgerError(
                    f"ledger {path} is damaged at line {number}: {why_unreadable}; repair "
                    "that line by hand or restore a backup (never drop a `created` line: it is "
                    "what stops a task from being sent twice)"
                )
            # Only the last line can be torn by a crash mid-write, and its append never
            # returned, so nothing was sent on its account.
            state.warnings.append(
                f"ignored an incomplete last line (line {number}) of ledger {path}: "
                "a crash mid-write, or a write in progress"
            )
            return _finish(Parsed(state, keep, torn=True), ignored, first_session, sessions)
        # A complete line that lost only its "\n" is kept: it may be a `created`.
        keep, add_newline = offset + len(line), not line.endswith(b"\n")
        why = check_event(obj)
        if why is not None:
            # What check_event refuses may be a line a newer launcher wrote: counted, not
            # damage (a valid v1 event is never one of those).
            kind = ignored_kind(obj)
            if kind is not None:
                ignored[kind] += 1
                continue
            raise LedgerError(
                f"ledger {path} is damaged at line {number}: {why}; repair that line by hand "
                "or restore a backup"
            )
        if obj["event"] == "created":
            key, session = obj["key"], obj["session_id"]
            if "rerun" in obj:  # each rerun is a new session of the key, on purpose
                key = f"{key}/{obj['rerun']}"
            known = first_session.setdefault(key, session)
            if known != session:
                sessions.setdefault(key, {known}).add(session)
        state.apply(obj)
    if first and on_accept is not None:  # empty (or blank): a new ledger
        on_accept()
    return _finish(Parsed(state, keep, add_newline), ignored, first_session, sessions)


def _finish(
    parsed: Parsed,
    ignored: Counter[str],
    first_session: dict[str, str],
    sessions: dict[str, set[str]],
) -> Parsed:
    """The warnings that need the whole file: newer events skipped, keys created twice."""
    state = parsed.state
    for kind, n in ignored.items():
        state.warnings.append(f"ignored {n} event{'s' * (n > 1)} {kind} (from a newer launcher?)")
    for key in first_session if sessions else ():  # in the order the keys were first created
        ids = sessions.get(key, ())
        record = state.get(key.split("/")[0]) if len(ids) > 1 else None
        if record is not None:
            state.warnings.append(
                f"key {key} ({record.entry}) was recorded created {len(ids)} times "
                f"with different sessions ({', '.join(sorted(ids))}): possible duplicate "
                "session; the first one counts"
            )
    return parsed


def read_state(path: str | os.PathLike[str]) -> LedgerState:
    """Fold a ledger without locking it (plan, summary); a missing file is an empty state."""
    parsed = parse_file(path)
    return LedgerState() if parsed is None else parsed.state


def parse_file(path: str | os.PathLike[str]) -> Parsed | None:
    """`parse` of the ledger at `path`, unlocked and read-only; None when there is none.
    O_NONBLOCK: opening a FIFO to read must not wait for a writer that never comes."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a part of the path is a file, permission denied...
        raise io_error(p, exc, "read ledger") from None
    try:
        check_regular(p, fd)
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb") as f:
        try:
            return parse(f, p)
        except OSError as exc:
            raise io_error(p, exc, "read ledger") from None
