"""`launcher ledger compact`: a ledger rewritten to one line per dispatch key (the event
its state stands on), under the ledger's lock, replaced atomically."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launcher.errors import LedgerError
from launcher.ledger.atomic import replace_with, write_beside
from launcher.ledger.events import VERSION, check_event, new_run_id
from launcher.ledger.state import KeyRecord, LedgerState
from launcher.ledger.writer import LedgerWriter

TMP_TAG = "compact"


@dataclass(frozen=True)
class Compacted:
    path: str
    keys: int
    bytes_before: int
    bytes_after: int
    warnings: list[str]


def record_event(r: KeyRecord) -> dict[str, Any]:
    """The one event whose fold is `r` (its attempt count aside): what a later run reads of
    the key, the pending `sending`'s timeout and a throttled `failed`'s retry_at included."""
    ev: dict[str, Any] = {
        "v": VERSION,
        "ts": r.ts,
        "event": r.outcome,
        "entry": r.entry,
        "name": r.name,
        "key": r.key,
        "run_id": r.run_id,
        "content": r.content,
    }
    if r.api is not None:
        ev["api"] = dict(r.api)  # where its session lives
    if r.batch is not None:
        # What `watch` lists the session by, and what a resend must carry again.
        ev["batch"] = r.batch
    if r.run_key and r.outcome in ("sending", "created"):
        ev["run_key"] = r.run_key
    if r.rerun:
        ev["rerun"] = r.rerun  # a later fold must take its session over the first one's
        if r.rerun_of is not None:
            ev["rerun_of"] = r.rerun_of
    if r.outcome == "sending":
        ev["attempt"] = 1  # not a count the fold reads; a constant keeps compact idempotent
        if r.timeout is not None:
            ev["timeout"] = r.timeout
    elif r.outcome == "created":
        ev["session_id"] = r.session_id
        if r.url is not None:
            ev["url"] = r.url
        if r.is_new_session is not None:
            ev["is_new_session"] = r.is_new_session
        if r.reconciled:
            ev["reconciled"] = True
    else:
        optional = {"error": r.error, "status": r.status, "retry_at": r.retry_at}
        if r.at_capacity:
            optional["at_capacity"] = True  # refused at the limit: still pending
        if r.void:
            optional["void"] = True  # a wrong address: never took effect, still pending
        if r.outcome == "in_doubt":
            optional = {"error": r.error}
        ev.update({k: v for k, v in optional.items() if v is not None})
    why = check_event(ev)
    if why is not None:  # the fold only holds what check_event accepted
        raise LedgerError(f"cannot compact key {r.key}: {why}")
    return ev


def compacted_lines(state: LedgerState) -> Iterator[bytes]:
    """Every key once, with its follow-through events: entry by entry in the order the
    ledger first saw them, and an entry's keys in the order of their latest events, so that
    the fold of the result lists the same entries and names the same record for each (what
    `ledger summary` counts and follow-up follows); the uploads first, so that no run
    uploads the same content again."""
    for ev in state.uploads():
        yield (json.dumps(ev, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    for records in state.by_entry().values():
        yield from _key_lines(state, sorted(records, key=lambda r: state.position(r.key)))


def _key_lines(state: LedgerState, records: list[KeyRecord]) -> Iterator[bytes]:
    for r in records:
        # The key's follow-through after its record: the latest status, a cancel, and each
        # message text (so that `message` never sends the same text twice), in their order.
        follow = sorted(state.follow(r.key).values(), key=lambda pair: pair[0])
        for ev in (record_event(r), *(dict(ev) for _, ev in follow)):
            text = json.dumps(ev, ensure_ascii=False, separators=(",", ":"))
            yield (text + "\n").encode()


def compact(path: str | os.PathLike[str]) -> Compacted:
    """Rewrite `path` to its latest state per key. The lock keeps runs out meanwhile; the
    rename makes a crash at any moment leave the old ledger or the new one."""
    named = Path(path)
    if not named.is_file():
        raise LedgerError(f"no ledger at {named}; pass the file that `launcher run --ledger` wrote")
    # The file itself, not a symbolic link to it: a rename over the link would leave the
    # link's other names with the old file, its own lock and history (duplicate sessions).
    p = Path(os.path.realpath(named))
    with LedgerWriter.open(p, new_run_id()) as writer:
        before = p.stat()
        if before.st_nlink > 1:
            # A rename gives only this name the new file: the other names would keep the
            # old one. Rewriting in place is not crash-safe, so neither is done.
            raise LedgerError(
                f"ledger {named} has {before.st_nlink} names (hard links): compacting it would "
                "split it in two; remove the other names (find / -samefile) or compact a copy "
                "and put it in place while no run is active"
            )
        tmp = p.with_name(f".{p.name}.{TMP_TAG}.tmp")
        # Under the lock, a leftover is from a compact that died: nobody else writes it.
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        lines = compacted_lines(writer.state)
        owner = (before.st_uid, before.st_gid)
        tmp = write_beside(p, TMP_TAG, lines, before.st_mode & 0o7777, owner)
        replace_with(tmp, p)
        state = writer.state
    return Compacted(
        str(named), len(state.records()), before.st_size, p.stat().st_size, list(state.warnings)
    )
