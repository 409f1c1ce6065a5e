"""What `run` would do: each entry against the ledger's state → create, or skip.

It also tells which of a run's entries the ledger never saw (`ledger summary --manifests`).
A key recorded as created is never sent again; `changed` flags an entry whose name was
dispatched before with other content (an edited prompt, another matrix value...: the
content does not include the run key, so a new run key alone does not flag it), so a
user sees that this run makes a second session for it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from launcher.entry import BATCH_PREFIX, Entry
from launcher.errors import UsageError

if TYPE_CHECKING:
    from launcher.ledger.state import LedgerState
    from launcher.ledger.summary import LedgerSummary

Action = Literal["create", "skip"]


class Record(Protocol):
    """What the plan reads of a ledger record (`launcher.ledger.KeyRecord`)."""

    @property
    def content(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def url(self) -> str | None: ...


class State(Protocol):
    """What the plan reads of the ledger (`launcher.ledger.LedgerState`)."""

    def created(self, key: str) -> Record | None: ...
    def created_for_name(self, name: str) -> Sequence[Record]: ...


@dataclass(frozen=True)
class PlanItem:
    """One entry and what `run` would do with it; the session for a skip."""

    entry: Entry
    action: Action
    changed: bool = False
    session_id: str | None = None
    url: str | None = None


def make_plan(entries: list[Entry], state: State) -> list[PlanItem]:
    """One item per entry, in the entries' order."""
    items: list[PlanItem] = []
    for entry in entries:
        record = state.created(entry.key)
        changed = any(r.content != entry.content for r in state.created_for_name(entry.name))
        if record is not None:
            items.append(PlanItem(entry, "skip", changed, record.session_id, record.url))
        else:
            items.append(PlanItem(entry, "create", changed))
    return items


R = TypeVar("R", bound=Record)
R_co = TypeVar("R_co", bound=Record, covariant=True)


class KeyedState(Protocol[R_co]):
    """What `coverage` reads of the ledger: any record of a key."""

    def get(self, key: str) -> R_co | None: ...


def coverage(entries: list[Entry], state: KeyedState[R]) -> tuple[list[R], list[Entry]]:
    """The ledger's record of each entry's key (this run key's), and the entries it has
    none for: never sent, by any run."""
    seen: list[R] = []
    unsent: list[Entry] = []
    for entry in entries:
        record = state.get(entry.key)
        if record is None:
            unsent.append(entry)
        else:
            seen.append(record)
    return seen, unsent


def manifest_summary(
    entries: list[Entry], state: LedgerState, path: str
) -> tuple[LedgerSummary, list[Entry]]:
    """`ledger summary --manifests`: the ledger's summary of exactly these entries' keys,
    and the entries it never saw (a run stopped before sending them)."""
    from launcher.ledger.summary import LedgerSummary, SummaryEntry, state_counts, statuses_of

    seen, unsent = coverage(entries, state)
    rows = [SummaryEntry.of(r, state) for r in seen]
    counts = state_counts(rows)
    failures = [r for r in rows if r.outcome.problem]
    summary = LedgerSummary(path, counts, rows, failures, list(state.warnings), statuses_of(rows))
    return summary, unsent


def select_entries(entries: list[Entry], globs: Sequence[str] | None) -> list[Entry]:
    """The entries whose name matches any of `--select`'s globs (all of them without any)."""
    if not globs:
        return entries
    chosen = [e for e in entries if any(fnmatch.fnmatchcase(e.name, g) for g in globs)]
    if not chosen:
        raise UsageError(f"no entry name matches --select {' '.join(globs)}")
    return chosen


def nothing_to_send(entries: Sequence[Entry], state: State, ledger: str) -> str | None:
    """The one line a run with nothing to send says instead of dispatching; None when some
    entry has no session yet."""
    records = [state.created(e.key) for e in entries]
    if not entries or any(r is None for r in records):
        return None
    batches = {getattr(r, "batch", None) for r in records}
    run_keys = {e.run_key for e in entries}
    if len(batches) == 1 and (batch := batches.pop()):
        of = f"batch {batch.removeprefix(BATCH_PREFIX)}"
    elif len(run_keys) == 1 and (key := run_keys.pop()):
        of = f"run key {key!r}"
    else:
        of = "the ledger"
    n = len(entries)
    every = "the one entry" if n == 1 else f"all {n} entries"
    verb = "has a session" if n == 1 else "have sessions"
    return f"nothing to send: {every} of {of} {verb} (ledger {ledger})"
