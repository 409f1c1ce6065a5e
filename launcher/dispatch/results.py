"""What a run came to, entry by entry: filled by the dispatcher, rendered by `output`.

Kept apart from the loop that fills them so that reporters depend on values, not on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from launcher.dispatch.ending import Ending, Finished, exit_code
from launcher.entry import Entry
from launcher.errors import ExitCode
from launcher.ledger.state import EntryState, KeyRecord

if TYPE_CHECKING:
    from launcher.ledger.writer import LedgerWriter


@dataclass
class EntryResult:
    entry: Entry
    outcome: EntryState = EntryState.PENDING
    session_id: str | None = None
    url: str | None = None
    error: str | None = None
    status: int | None = None
    reconciled: bool = False
    attempts: int = 0
    batch: str | None = None  # the batch tag its latest request carried
    last_in_doubt: bool = False  # the last answer left it unknown whether it was created
    at_capacity: bool = False  # pending because the organisation was at its session limit
    known: list[str] = field(default_factory=list)  # session ids an unusable answer named
    first_sent: datetime | None = None  # when this run first sent it
    rerun: int = 0  # the how-manieth new session of the entry (`launcher rerun`); 0: its first
    rerun_of: str | None = None  # the session this rerun replaces

    def idempotent(self, honoured: bool = True) -> bool:
        """Whether a resend may be left to the API's idempotency (`honoured`: the API has
        it): never for a rerun, whose body drops the flag (it wants a new session)."""
        return honoured and bool(self.entry.request.get("idempotent")) and not self.rerun

    def body(self, environ: Mapping[str, str]) -> dict[str, Any]:
        """The request body to send, with its reconciliation tag (`Entry.body`)."""
        return self.entry.body(environ, self.rerun)

    def skip(self, record: KeyRecord) -> None:
        """Created by an earlier run (`record`, the ledger's): nothing to send."""
        self.outcome, self.session_id, self.url = EntryState.SKIPPED, record.session_id, record.url


@dataclass
class RunResult:
    results: list[EntryResult]
    ledger: str
    run_id: str
    ending: Ending = field(default_factory=Finished)  # why it stopped starting entries
    warnings: list[str] = field(default_factory=list)
    capacity_limit: int | None = None  # the concurrent-session limit, once a refusal said it

    def count(self, outcome: EntryState) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def exit_code(self) -> ExitCode:
        return exit_code(self.ending, all(r.outcome.has_session for r in self.results))


def all_skipped(entries: Sequence[Entry], writer: LedgerWriter) -> RunResult:
    """The result of a run whose every entry an earlier run created (`plan.nothing_to_send`
    said so): what the dispatcher would report, without starting it."""
    results = [EntryResult(entry) for entry in entries]
    for result in results:
        record = writer.state.created(result.entry.key)
        assert record is not None, "all_skipped needs every entry created"
        result.skip(record)
    return RunResult(results, str(writer.path), writer.run_id, warnings=list(writer.state.warnings))
