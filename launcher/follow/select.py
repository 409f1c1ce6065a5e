"""Which sessions a follow-up command acts on. With manifests: each entry matched to the
ledger by its entry id within the run key, so that an entry changed since it was sent keeps
its session. Without: every session the ledger holds, or one run's (`--batch`), or one run
key's. Either way, what was sent, not what the manifests say today."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from launcher.entry import BATCH_PREFIX, Entry, dispatch_key
from launcher.follow.targets import Target, newest_first_ranks, target_of
from launcher.ledger.state import KeyRecord, LedgerState


@dataclass(frozen=True)
class LedgerSelection:
    """Without manifests: the sessions of one run (`batch`: its run id or batch tag), of
    one run key, of names matching a glob; None selects all."""

    batch: str | None = None
    run_key: str | None = None
    names: tuple[str, ...] | None = None

    def describe(self) -> str:
        parts = [f"--batch {self.batch}"] if self.batch is not None else []
        if self.run_key is not None:
            parts.append(f"--run-key {self.run_key!r}")
        parts += [f"--select {g}" for g in self.names or ()]
        return " ".join(parts) or "no filter"

    def holds(self, record: KeyRecord) -> bool:
        if self.run_key is not None and not in_run_key(record, self.run_key):
            return False
        if self.names is not None and not any(
            fnmatch.fnmatchcase(record.name, g) for g in self.names
        ):
            return False
        if self.batch is None:
            return True
        run_id = self.batch.removeprefix(BATCH_PREFIX)
        if record.batch is not None:
            return record.batch.removeprefix(BATCH_PREFIX) == run_id
        return record.run_id == run_id


def in_run_key(record: KeyRecord, run_key: str) -> bool:
    """Was `record` sent under `run_key`? Its key says so, whatever the ledger recorded."""
    return dispatch_key(record.content, run_key) == record.key


def _elsewhere(entry: Entry, records: Sequence[KeyRecord]) -> str:
    """Why an entry has no session under its run key although the ledger holds some."""
    keys = sorted({r.run_key for r in records if r.run_key is not None})
    held = [r for r in records if r.outcome == "created"]
    what = "its session" if held else "its records"
    if not keys:
        return (
            f"not sent under run key {entry.run_key!r}; another run key holds {what} (the "
            "launcher that sent it did not record which): pass the --run-key that run was given"
        )
    named = ", ".join(repr(k) for k in keys)
    flag = f"--run-key {keys[0]}" if keys[0] else "no --run-key"
    return f"not sent under run key {entry.run_key!r}; run key {named} holds {what}: pass {flag}"


def for_entries(entries: Sequence[Entry], state: LedgerState) -> list[Target]:
    """A Target per manifest entry, in manifest order: the session its entry id holds
    under its run key (marked changed when the entry's request is no longer the one
    sent), or why it has none."""
    grouped = state.by_entry()
    ranks = newest_first_ranks(state)
    targets = []
    for entry in entries:
        records = grouped.get(entry.entry_id, [])
        mine = [r for r in records if r.key == entry.key or in_run_key(r, entry.run_key)]
        record = state.current_of(mine, one_run_key=True) if mine else None
        target = target_of(entry, record, state, ranks)
        if not mine and records:
            target.create_error = _elsewhere(entry, records)
        targets.append(target)
    return targets


def for_ledger(state: LedgerState, selection: LedgerSelection) -> list[Target]:
    """A Target per entry id and run key the ledger holds (in the order it first saw
    them) that the selection keeps, following the entry's latest session."""
    ranks = newest_first_ranks(state)
    targets = []
    for entry_id, records in state.by_entry().items():
        # An entry once per run key it was sent under: each is a batch's entry of its own.
        by_run_key: dict[str | None, list[KeyRecord]] = {}
        for r in records:
            if selection.holds(r):
                by_run_key.setdefault(r.run_key, []).append(r)
        for run_key, kept in by_run_key.items():
            record = state.current_of(kept, one_run_key=run_key is not None)
            targets.append(_ledger_target(entry_id, record, state, ranks))
    return targets


def _ledger_target(
    entry_id: str, record: KeyRecord, state: LedgerState, ranks: dict[str, int]
) -> Target:
    file = entry_id[: -len(record.name) - 1] if entry_id.endswith(f"#{record.name}") else ""
    # The manifest is not read: the entry stands for what the ledger knows of it.
    entry = Entry(record.name, file, file, 0, {}, record.run_key or "")
    target = target_of(entry, record, state, ranks)
    target.changed = False
    return target
