"""What a run came to, entry by entry: filled by the dispatcher, rendered by `output`.

Kept apart from the loop that fills them so that reporters depend on values, not on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from launcher.entry import Entry
from launcher.errors import ExitCode

EntryOutcome = Literal["created", "adopted", "skipped", "failed", "in_doubt", "pending"]
ENTRY_OUTCOMES: tuple[EntryOutcome, ...] = get_args(EntryOutcome)
DONE: frozenset[EntryOutcome] = frozenset({"created", "adopted", "skipped"})
PROBLEMS: frozenset[EntryOutcome] = frozenset({"failed", "in_doubt"})


@dataclass
class EntryResult:
    entry: Entry
    outcome: EntryOutcome = "pending"
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

    @property
    def idempotent(self) -> bool:
        """Whether a resend may be left to the API's idempotency: never for a rerun, whose
        body drops the flag (it wants a new session on purpose)."""
        return bool(self.entry.request.get("idempotent")) and not self.rerun

    def body(self, environ: Mapping[str, str]) -> dict[str, Any]:
        """The request body to send, with its reconciliation tag (`Entry.body`)."""
        return self.entry.body(environ, self.rerun)


@dataclass
class RunResult:
    results: list[EntryResult]
    ledger: str
    run_id: str
    stopped: str | None = None  # why the run stopped starting entries, if it did
    auth_error: str | None = None
    config_error: str | None = None  # the API could not be reached at all: nothing was sent
    interrupted: bool = False
    aborted: bool = False  # a second signal cut the requests in flight
    warnings: list[str] = field(default_factory=list)
    capacity: str | None = None  # the one line saying the organisation is at its limit
    capacity_limit: int | None = None

    def count(self, outcome: EntryOutcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def exit_code(self) -> ExitCode:
        if self.config_error:
            return ExitCode.USAGE
        if self.auth_error:
            return ExitCode.AUTH
        if self.interrupted:
            return ExitCode.INTERRUPTED
        return ExitCode.OK if all(r.outcome in DONE for r in self.results) else ExitCode.FAILED
