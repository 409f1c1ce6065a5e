"""`launcher ledger merge` and the fold of several ledgers: every event of every input,
each with its own run id, in timestamp order (each input's own order kept), an event found
in two inputs once; `ledger summary A B ...` reads the same merged fold."""

from __future__ import annotations

import contextlib
import heapq
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.errors import LedgerError
from launcher.ledger.atomic import publish_new, write_beside
from launcher.ledger.events import decode, ignored_kind
from launcher.ledger.read import io_error, parse_file
from launcher.ledger.state import LedgerState
from launcher.ledger.summary import LedgerSummary, summarize, summary_of


@dataclass(frozen=True)
class _Event:
    ts: str
    line: bytes  # as the input holds it, "\n" included
    obj: dict[str, Any]


@dataclass
class Merged:
    """Every event of the inputs in merge order, the fold of them, and reading's notes."""

    lines: list[bytes] = field(default_factory=list)
    state: LedgerState = field(default_factory=LedgerState)
    duplicates: int = 0  # events found in more than one input, kept once


def _input_events(
    path: Path, warnings: list[str], apis: list[tuple[Path, Mapping[str, Any]]]
) -> list[_Event]:
    parsed = parse_file(path)  # damage is an error naming the line; a torn last line, a warning
    if parsed is None:
        raise LedgerError(f"no ledger at {path}; pass the files that `launcher run` wrote")
    warnings.extend(parsed.state.warnings)
    apis.extend((path, record) for record in parsed.state.apis)
    try:
        with open(path, "rb") as f:
            data = f.read(parsed.keep)
    except OSError as exc:
        raise io_error(path, exc, "read ledger") from None
    events: list[_Event] = []
    newer = 0
    for line in data.splitlines(keepends=True):
        if not line.strip():
            continue
        obj = decode(line)  # parse() checked every line up to `keep`
        if ignored_kind(obj) is not None:
            newer += 1
            continue
        events.append(_Event(obj["ts"], line if line.endswith(b"\n") else line + b"\n", obj))
    if newer:
        # Dropping them would lose what a newer launcher knows; keeping them unread is no
        # better: the merged file would claim a state this launcher never checked.
        raise LedgerError(
            f"ledger {path} holds {newer} event{'s' * (newer > 1)} a newer launcher wrote; "
            "merge with that launcher"
        )
    return events


def merge_events(paths: Sequence[str | os.PathLike[str]], *, one_api: bool = False) -> Merged:
    """The merged events and their fold; inputs are read, never locked or changed.
    `one_api`: refuse inputs whose sessions live in different APIs."""
    warnings: list[str] = []
    apis: list[tuple[Path, Mapping[str, Any]]] = []
    inputs = [_input_events(Path(p), warnings, apis) for p in paths]
    if one_api:
        _check_one_api(apis)
    merged = Merged()
    seen: set[bytes] = set()
    sessions: dict[str, set[str]] = {}
    # heapq.merge keeps each input's own order even where its clock went backwards.
    ordered: Iterator[_Event] = heapq.merge(*inputs, key=lambda e: e.ts)
    for event in ordered:
        if event.line in seen:
            merged.duplicates += 1
            continue
        seen.add(event.line)
        merged.lines.append(event.line)
        if event.obj["event"] == "created":
            key = event.obj["key"]
            if "rerun" in event.obj:  # each rerun is a new session of the key, on purpose
                key = f"{key}/{event.obj['rerun']}"
            sessions.setdefault(key, set()).add(event.obj["session_id"])
        merged.state.apply(event.obj)
    for key, ids in sessions.items():
        record = merged.state.get(key.split("/")[0])
        if len(ids) > 1 and record is not None:
            warnings.append(
                f"key {key} ({record.entry}) was recorded created {len(ids)} times with "
                f"different sessions ({', '.join(sorted(ids))}): possible duplicate session; "
                "the first one counts"
            )
    merged.state.warnings = warnings
    return merged


def _api_label(record: Mapping[str, Any]) -> str:
    if record.get("sandbox") is True:
        return "the embedded sandbox"
    return f"{record.get('base_url')} ({record.get('generation')})"


def _check_one_api(apis: list[tuple[Path, Mapping[str, Any]]]) -> None:
    """Refuse inputs whose sessions live in different APIs: in one ledger, each would be
    taken for created in the other. (Records of one place are equal: `ApiTarget`.)"""
    for path, record in apis[1:]:
        first, held = apis[0]
        if record != held:
            raise LedgerError(
                f"ledger {first} holds sessions of {_api_label(held)} and ledger {path} "
                f"sessions of {_api_label(record)}: a merged ledger would take each one's "
                "sessions for created in the other; merge the ledgers of one API only"
            )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def merge_into(paths: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str]) -> Merged:
    """Write the merge of `paths` to the new file `output`, atomically. An existing output
    is refused, an input above all (compared by file identity, not by spelling)."""
    out = Path(output)
    for p in paths:
        if _same_file(Path(p), out):
            raise LedgerError(f"--output {out} is the input {p}; write the merge to a new file")
    if out.exists() or out.is_symlink():
        raise LedgerError(
            f"--output {out} already exists; pass it as an input and write to a new file, "
            "or remove it"
        )
    merged = merge_events(paths, one_api=True)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise io_error(out, exc, "create the folder of") from None
    tmp = write_beside(out, f"merge-{os.getpid()}", merged.lines, _narrowest_mode(paths))
    try:
        publish_new(tmp, out)
    except FileExistsError:
        raise LedgerError(f"--output {out} appeared while merging; nothing written") from None
    return merged


def _narrowest_mode(paths: Sequence[str | os.PathLike[str]]) -> int:
    """The permissions every input allows (0600 at most): the merge holds what they hold."""
    mode = 0o600
    for p in paths:
        with contextlib.suppress(OSError):
            mode &= os.stat(p).st_mode
    return mode & 0o600


def summarize_ledgers(paths: Sequence[str | os.PathLike[str]]) -> LedgerSummary:
    """One ledger's summary, or the summary of several read as one merged ledger."""
    if len(paths) == 1:
        return summarize(paths[0])
    return summary_of(", ".join(map(str, paths)), merge_events(paths).state)
