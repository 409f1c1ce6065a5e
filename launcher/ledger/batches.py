"""`launcher ledger batches`: the batches a ledger holds, one per run that sent them (its
batch tag), with its run key, its API, when it started, its entries counted once each by
outcome, and its sessions' latest statuses."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from launcher.ledger.merge import merge_events
from launcher.ledger.state import EntryState, KeyRecord, LedgerState
from launcher.ledger.summary import BATCH_PREFIX, SummaryEntry, state_counts


@dataclass(frozen=True)
class Batch:
    run_id: str
    run_keys: tuple[str | None, ...]  # None: not recorded (an older launcher sent it)
    api: Mapping[str, Any] | None  # the `api` field of its records, if they have one
    started: str  # when the run began (UTC)
    entries: int
    counts: dict[EntryState, int]
    statuses: dict[str, int] = field(default_factory=dict)
    acus: float | None = None  # its sessions' ACUs, where the API reports them (v3)

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_keys": list(self.run_keys),
            "api": dict(self.api) if self.api is not None else None,
            "started": self.started,
            "entries": self.entries,
            "counts": dict(self.counts),
            "statuses": dict(self.statuses),
            "acus_consumed": self.acus,
        }


def _started(run_id: str, records: list[KeyRecord]) -> str:
    """When the run began: the time its id starts with (`new_run_id`), else the earliest
    time its records keep."""
    try:
        when = datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ")
    except ValueError:
        return min(r.ts for r in records)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_id(record: KeyRecord) -> str:
    return record.batch.removeprefix(BATCH_PREFIX) if record.batch else record.run_id


def batches_of(state: LedgerState) -> list[Batch]:
    """Every batch of the ledger, oldest first; each entry once per batch, in the state
    every count counts it in (`LedgerState.current_of`)."""
    grouped: dict[str, dict[str, list[KeyRecord]]] = {}
    for record in state.records():
        grouped.setdefault(_run_id(record), {}).setdefault(record.entry, []).append(record)
    out = []
    for run_id, by_entry in grouped.items():
        records = [r for rs in by_entry.values() for r in rs]
        rows = [SummaryEntry.of(state.current_of(rs), state) for rs in by_entry.values()]
        counts = state_counts(rows)
        statuses = Counter(
            row.status_enum or "not watched" for row in rows if row.outcome.has_session
        )
        spent = [row.acus_consumed for row in rows if row.acus_consumed is not None]
        out.append(
            Batch(
                run_id=run_id,
                run_keys=tuple(dict.fromkeys(r.run_key for r in records)),
                api=next((r.api for r in records if r.api is not None), None),
                started=_started(run_id, records),
                entries=len(rows),
                counts=counts,
                statuses=dict(sorted(statuses.items())),
                acus=sum(spent) if spent else None,
            )
        )
    return sorted(out, key=lambda b: (b.started, b.run_id))


def ledger_batches(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Batch], list[str]]:
    """The batches of one ledger, or of several read as one; and reading's warnings. The
    ledgers are read without their lock: a run may hold them meanwhile."""
    state = merge_events(paths).state
    return batches_of(state), list(state.warnings)
