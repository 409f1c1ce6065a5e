"""The Recorder: the one place where an entry's result, its ledger line and what the user
is shown change together, so that they never disagree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from launcher.api.outcomes import Created, Final, InDoubt, RetrySafe
from launcher.dispatch.pacing import Pace
from launcher.dispatch.results import EntryResult
from launcher.ledger.events import timestamp
from launcher.ledger.state import EntryState, KeyRecord
from launcher.ledger.writer import LedgerWriter


class Progress(Protocol):
    """What a run shows while it works (implemented by `launcher.output.progress`)."""

    def attach(self, pace: Pace) -> None: ...
    def created(self, result: EntryResult) -> None: ...
    def skipped(self, result: EntryResult) -> None: ...
    def retrying(self, result: EntryResult, wait: float) -> None: ...
    def failed(self, result: EntryResult) -> None: ...
    def in_doubt(self, result: EntryResult) -> None: ...
    def stopped(self, result: EntryResult) -> None: ...
    def sent(self) -> None: ...
    def log(self, message: str, *, warn: bool = False) -> None: ...


class Recorder:
    """Updates an `EntryResult`, appends its ledger event (durably) and tells the progress."""

    def __init__(self, ledger: LedgerWriter, progress: Progress, timeout: float) -> None:
        self.ledger = ledger
        self.progress = progress
        self._timeout = timeout

    async def sending(self, result: EntryResult) -> None:
        """The intent: durable, and its timestamp true, right before the send."""
        result.attempts += 1
        if result.first_sent is None:
            result.first_sent = datetime.now(UTC)
        extra = {"batch": result.batch} if result.batch else {}
        if result.entry.run_key:
            extra["run_key"] = result.entry.run_key
        extra.update(_rerun_fields(result))
        await self.ledger.append(
            "sending", result.entry, attempt=result.attempts, timeout=self._timeout, **extra
        )

    def sent(self) -> None:
        self.progress.sent()

    def skipped(self, result: EntryResult, record: KeyRecord) -> None:
        result.skip(record)
        self.progress.skipped(result)

    async def answered(self, result: EntryResult, outcome: RetrySafe | InDoubt) -> None:
        """An answer to be retried or reconciled: kept on the result until it is settled."""
        result.error, result.status = outcome.error, outcome.status
        result.last_in_doubt = isinstance(outcome, InDoubt)
        if isinstance(outcome, InDoubt) and outcome.session_id:
            result.known.append(outcome.session_id)
        if isinstance(outcome, RetrySafe) and not outcome.sent:
            # The `sending` intent is void: nothing reached the server, so a later run has
            # nothing to wait out or look up. Durable, for the run that follows a crash.
            await self.ledger.append(
                "failed", result.entry, error=f"not sent: {outcome.error}", status=None
            )
        elif isinstance(outcome, RetrySafe) and outcome.retry_after is not None:
            # Durable, so that a run started after a crash waits it out too.
            await self.ledger.append(
                "failed",
                result.entry,
                error=f"{outcome.error} (will retry)",
                status=outcome.status,
                retry_at=timestamp(outcome.retry_after),
            )

    def retrying(self, result: EntryResult, wait: float) -> None:
        self.progress.retrying(result, wait)

    async def created(self, result: EntryResult, outcome: Created) -> None:
        new = outcome.is_new_session is not False
        result.outcome = EntryState.CREATED if new else EntryState.ADOPTED
        result.session_id, result.url = outcome.session_id, outcome.url
        result.error = result.status = None
        result.last_in_doubt = False
        fields: dict[str, Any] = {
            "session_id": outcome.session_id,
            "url": outcome.url,
            "is_new_session": outcome.is_new_session,
        }
        if result.entry.run_key:
            fields["run_key"] = result.entry.run_key
        fields.update(_rerun_fields(result))
        if result.reconciled:
            fields["reconciled"] = True
        elif result.batch:  # a session found by a lookup may not carry this run's tag
            fields["batch"] = result.batch
        await self.ledger.append("created", result.entry, **fields)
        self.progress.created(result)

    async def failed(
        self, result: EntryResult, error: str, status: int | None, retry_after: float | None = None
    ) -> None:
        result.outcome, result.error, result.status = EntryState.FAILED, error, status
        fields: dict[str, Any] = {"rerun": result.rerun} if result.rerun else {}
        if retry_after is not None:  # the server's wait outlives this run: kept for the next
            fields["retry_at"] = timestamp(retry_after)
        await self.ledger.append("failed", result.entry, error=error, status=status, **fields)
        self.progress.failed(result)

    async def in_doubt(self, result: EntryResult, error: str) -> None:
        result.outcome, result.error = EntryState.IN_DOUBT, error
        rerun = {"rerun": result.rerun} if result.rerun else {}
        await self.ledger.append("in_doubt", result.entry, error=error, **rerun)
        self.progress.in_doubt(result)

    async def settled(self, result: EntryResult, outcome: Created | Final | InDoubt) -> None:
        """The last word on the entry in this run."""
        if isinstance(outcome, Created):
            await self.created(result, outcome)
        elif isinstance(outcome, Final):
            await self.failed(result, outcome.error, outcome.status or None, outcome.retry_after)
        else:
            await self.in_doubt(result, outcome.error)

    async def voided(self, result: EntryResult, error: str, status: int) -> None:
        """Pending, durably: the request reached no API (a wrong address answered 404 or
        405), so its `sending` intent is void and nothing is recorded as failed."""
        result.outcome, result.error = EntryState.PENDING, error
        await self.ledger.append("failed", result.entry, error=error, status=status, void=True)
        self.progress.stopped(result)

    async def deferred(self, result: EntryResult, error: str) -> None:
        """Pending, durably: a `failed` event marked `at_capacity`, which the ledger folds
        as pending, so the next run sends it without waiting out or looking up anything."""
        result.outcome, result.error, result.at_capacity = EntryState.PENDING, error, True
        await self.ledger.append("failed", result.entry, error=error, status=429, at_capacity=True)
        self.progress.stopped(result)

    async def stopped(self, result: EntryResult, reason: str, *, at_capacity: bool) -> None:
        """A stop came before the entry was settled: say why its retry did not happen."""
        if at_capacity and result.error is not None and not result.last_in_doubt:
            # Known not created, and its retry would meet the same full organisation.
            await self.deferred(result, f"{result.error} (not retried: {reason})")
            return
        self.progress.stopped(result)
        if result.last_in_doubt:
            await self.in_doubt(result, f"{result.error} (not retried: {reason})")
        elif result.error is not None:
            await self.failed(
                result, f"not retried ({reason}); last error: {result.error}", result.status
            )

    def warn(self, message: str) -> None:
        self.progress.log(message, warn=True)


def _rerun_fields(result: EntryResult) -> dict[str, Any]:
    """A rerun's `sending` and `created` carry its number (and the session it replaces),
    so that the fold takes it for a new session of a created entry, not an anomaly."""
    fields: dict[str, Any] = {"rerun": result.rerun} if result.rerun else {}
    if result.rerun and result.rerun_of:
        fields["rerun_of"] = result.rerun_of
    return fields
