"""Reading a ledger file into its state: damage is an error that names the line, a torn
last line (a crash mid-write) is a warning, and every path problem says how to fix it."""

from __future__ import annotations

import errno
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from launcher.errors import LedgerError
from launcher.ledger.events import check_event, decode, ignored_kind
from launcher.ledger.state import LedgerState


@dataclass
class Parsed:
    state: LedgerState
    keep: int  # bytes to keep: the end of the last complete line
    add_newline: bool = False  # the last line is complete JSON but lost its "\n"


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
    }
    fix = fixes.get(exc.errno or 0, exc.strerror or str(exc))
    return LedgerError(f"cannot {doing} {path}: {fix}")


def _lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, line) for each non-blank line. Binary iteration splits on
    b"\\n" only, so a U+2028 inside a string is never taken for a line end."""
    offset = 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                yield number, offset, line
            offset += len(line)


def parse(path: Path) -> Parsed:
    state = LedgerState()
    ignored: Counter[str] = Counter()
    sessions: dict[str, set[str]] = {}
    keep, add_newline = 0, False
    try:
        lines = list(_lines(path))
    except FileNotFoundError:
        lines = []
    except OSError as exc:  # a part of the path is a file, permission denied...
        raise io_error(path, exc, "read ledger") from None
    for i, (number, offset, line) in enumerate(lines):
        try:
            obj = decode(line)
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
        kind = ignored_kind(obj)
        if kind is not None:
            ignored[kind] += 1
            continue
        why = check_event(obj)
        if why is not None:
            raise LedgerError(
                f"ledger {path} is damaged at line {number}: {why}; repair that line by hand "
                "or restore a backup"
            )
        if obj["event"] == "created":
            sessions.setdefault(obj["key"], set()).add(obj["session_id"])
        state.apply(obj)
    for kind, n in ignored.items():
        state.warnings.append(f"ignored {n} event{'s' * (n > 1)} {kind} (from a newer launcher?)")
    for key, ids in sessions.items():
        record = state.get(key)
        if len(ids) > 1 and record is not None:
            state.warnings.append(
                f"key {key} ({record.entry}) was recorded created {len(ids)} times "
                f"with different sessions ({', '.join(sorted(ids))}): possible duplicate "
                "session; the first one counts"
            )
    return Parsed(state, keep, add_newline)


def read_state(path: str | os.PathLike[str]) -> LedgerState:
    """Fold a ledger without locking it (plan, summary); a missing file is an empty state."""
    return parse(Path(path)).state
