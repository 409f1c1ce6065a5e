"""The per-entry dispatcher: send → classify → retry or reconcile → record, for every entry
at once, under one shared pace, one circuit breaker and one stop."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt, stop_any
from tenacity.stop import stop_base

from launcher.api.outcomes import (
    AtLimit,
    Created,
    Fatal,
    Final,
    InDoubt,
    RetrySafe,
    SessionsAPI,
)
from launcher.dispatch.adopted import Adoptions
from launcher.dispatch.attachments import Uploader, UploadFailed, Uploads
from launcher.dispatch.breaker import CircuitBreaker
from launcher.dispatch.capacity import Capacity
from launcher.dispatch.ending import (
    AtCapacity,
    BreakerOpen,
    CredentialsRejected,
    Ending,
    Finished,
    Unreachable,
    outranks,
    reason,
)
from launcher.dispatch.pacing import Pace, RetryWait
from launcher.dispatch.reconcile import Reconciler
from launcher.dispatch.recorder import Progress, Recorder
from launcher.dispatch.results import EntryResult
from launcher.dispatch.settings import RunSettings
from launcher.entry import add_batch_tag, batch_tag
from launcher.ledger.state import EntryState
from launcher.ledger.writer import LedgerWriter


class Probe:
    """The run's first request goes alone: a wrong key or address costs one request, not
    one per slot (a probe-first start, as `gh` and `terraform` check first)."""

    def __init__(self) -> None:
        self._taken = False
        self._done = anyio.Event()

    def first(self) -> bool:
        """True for the one caller that sends the probe; every other waits for `done`."""
        taken, self._taken = self._taken, True
        return not taken

    async def done(self) -> None:
        await self._done.wait()

    def finish(self) -> None:
        self._done.set()


class Stopped(Exception):
    """No further attempt may start (signal, circuit breaker or rejected credentials)."""


class Stop:
    """The run's one stop: its `Ending`, set once (`ending.outranks` says when a later
    one replaces it)."""

    def __init__(self) -> None:
        self.ending: Ending | None = None
        self.event = anyio.Event()

    @property
    def reason(self) -> str | None:
        return None if self.ending is None else reason(self.ending)

    def set(self, ending: Ending) -> None:
        if outranks(ending, self.ending):
            self.ending = ending
            self.event.set()

    def check(self) -> None:
        """The one stop check: raises Stopped once the run is stopping."""
        if self.ending is not None:
            raise Stopped

    async def sleep(self, seconds: float) -> None:
        """A wait that a stop cuts short, by raising Stopped."""
        with anyio.move_on_after(seconds):
            await self.event.wait()
        self.check()


class _TooLong(stop_base):
    """tenacity: stop when the next wait would be longer than --max-wait."""

    def __init__(self, max_wait: float) -> None:
        self._max_wait = max_wait

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.upcoming_sleep > self._max_wait


class _Halted(stop_base):
    """tenacity: a stop ends the retries through the stop check, before any backoff."""

    def __init__(self, halt: Stop) -> None:
        self._halt = halt

    def __call__(self, retry_state: RetryCallState) -> bool:
        self._halt.check()
        return False


# What an entry comes to in this run; None: already recorded (by the reconciler).
Settled = Created | Final | Fatal | InDoubt | AtLimit | None
# What one attempt comes to: RetrySafe and InDoubt are retried.
Attempt = Settled | RetrySafe


class Dispatcher:
    """Runs every entry through send → classify → retry/reconcile → record."""

    def __init__(
        self,
        settings: RunSettings,
        client: SessionsAPI,
        writer: LedgerWriter,
        environ: Mapping[str, str],
        progress: Progress,
        reruns: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        # `launcher rerun`: dispatch key -> the session it replaces, for a new one.
        self.reruns = dict(reruns or {})
        self.client = client
        self.ledger = writer
        self.environ = environ
        self.pace = Pace(cap=settings.rate)
        self.breaker = CircuitBreaker(settings.breaker_span, settings.breaker_threshold)
        self.slots = anyio.CapacityLimiter(settings.concurrency)
        self.halt = Stop()
        self.probe = Probe()
        self.recorder = Recorder(writer, progress, settings.timeout)
        self.reconciler = Reconciler(
            client, self.recorder, self.slots, self.pace, settings.reconcile_delay, settings
        )
        self._cancel: anyio.CancelScope | None = None
        self.capacity = Capacity()
        self.adoptions: Adoptions | None = None
        self.uploads = Uploads(client, writer) if isinstance(client, Uploader) else None
        progress.attach(self.pace)

    @property
    def stop_reason(self) -> str | None:
        return self.halt.reason

    @property
    def ending(self) -> Ending:
        """Why the run stopped starting entries; Finished when nothing stopped it."""
        return self.halt.ending or Finished()

    def stop(self, ending: Ending) -> None:
        self.halt.set(ending)

    def expect(self, results: Sequence[EntryResult]) -> None:
        """The run's entries, so that an adopted session can be told as another's."""
        keys = [(r.entry.key, r.entry.entry_id) for r in results]
        self.adoptions = Adoptions(self.client, self.ledger.state, keys)

    async def run(self, results: Sequence[EntryResult]) -> None:
        self.expect(results)
        async with anyio.create_task_group() as tg:
            self._cancel = tg.cancel_scope
            for result in results:
                # What an earlier run created is settled here: a task for each of them would
                # cost a no-op re-run of 10,000 entries more than all its other work.
                if not self._done_before(result):
                    tg.start_soon(self.dispatch, result)

    def _done_before(self, result: EntryResult) -> bool:
        """True (and recorded as skipped) when an earlier run created the entry's session,
        unless this is a rerun of that very session."""
        key = result.entry.key
        record = self.ledger.state.get(key)
        replaced = self.reruns.get(key)
        replacing = record is not None and replaced is not None and record.session_id == replaced
        if record is not None and replacing and record.outcome == "created":
            result.rerun, result.rerun_of = record.rerun + 1, replaced
            return False
        result.rerun = max(result.rerun, record.rerun if record is not None else 0)
        if record is not None and record.outcome == "created":
            self.recorder.skipped(result, record)
            return True
        return False

    async def dispatch(self, result: EntryResult) -> None:
        """One entry, start to recorded outcome (a scheduler calls it one at a time)."""
        if self._done_before(result):
            return
        try:
            self.halt.check()
            prior = self.ledger.state.get(result.entry.key)
            if result.rerun_of is not None and prior is not None and prior.rerun < result.rerun:
                prior = None  # a new session on purpose: nothing of the old one to resume
            if await self.reconciler.resume(result, prior, self.halt.sleep) != "absent":
                return
            if result.entry.attachments and not await self._attach(result):
                return
            outcome = await self._send_with_retries(result)
        except Stopped:
            why = self.halt.reason or "stopped"
            if not isinstance(self.halt.ending, Unreachable):  # else the one error says it all
                await self.recorder.stopped(result, why, at_capacity=self.capacity.reached)
            return
        if isinstance(outcome, Fatal):
            # Stopped before the record's fsync, so that no other request starts meanwhile.
            self._credentials_rejected(outcome.error)
            await self.recorder.failed(result, outcome.error, outcome.status)
            if self._cancel is not None:
                self._cancel.cancel()
        elif isinstance(outcome, AtLimit):
            if self.capacity.refused(outcome):
                self.stop(AtCapacity(self.capacity.limit))
            await self.recorder.deferred(result, outcome.error)
        elif isinstance(outcome, Final) and outcome.wrong_address:
            await self.recorder.voided(result, outcome.error, outcome.status)
        elif outcome is not None:
            await self.recorder.settled(result, outcome)
        if result.outcome in (EntryState.CREATED, EntryState.ADOPTED):
            await self._explain(result)

    async def _attach(self, result: EntryResult) -> bool:
        """Upload the entry's attachments (once per content) and put their URLs in its
        request; False, with the entry recorded failed and nothing sent, when one cannot be."""
        try:
            if self.uploads is None:
                raise UploadFailed("this client cannot upload attachments")
            result.entry = await self.uploads.attach(result.entry)
        except UploadFailed as exc:
            if exc.status in (401, 403):
                self._credentials_rejected(str(exc))
            await self.recorder.failed(result, str(exc), exc.status)
            return False
        return True

    async def _explain(self, result: EntryResult) -> None:
        """Say whose session an adopted entry got (another entry's, or an older one)."""
        if self.adoptions is None:
            self.adoptions = Adoptions(self.client, self.ledger.state, ())
        if warning := await self.adoptions.explain(result):
            self.recorder.warn(warning)

    async def _send_with_retries(self, result: EntryResult) -> Settled:
        settings = self.settings
        retrying = AsyncRetrying(
            retry=retry_if_result(lambda o: isinstance(o, RetrySafe | InDoubt)),
            wait=RetryWait(settings.max_wait),
            stop=stop_any(
                _TooLong(settings.max_wait),
                _Halted(self.halt),
                stop_after_attempt(settings.max_attempts),
            ),
            sleep=self.halt.sleep,  # a stop during a backoff raises Stopped
            before_sleep=lambda s: self.recorder.retrying(result, s.upcoming_sleep),
            retry_error_callback=lambda s: _gave_up(s, settings.max_wait),
        )
        outcome: Attempt = await retrying(self._attempt, result)
        assert not isinstance(outcome, RetrySafe)  # retried, or made Final by _gave_up
        return outcome

    async def _attempt(self, result: EntryResult) -> Attempt:
        """One send. Returns RetrySafe/InDoubt to be retried, anything else to be recorded."""
        if not self.probe.first():
            await self.probe.done()
            self.halt.check()
            return await self._send(result)
        try:
            outcome = await self._send(result)
            if isinstance(outcome, RetrySafe) and outcome.unreachable:
                # The very first request could not connect (no such host, nothing listening,
                # TLS refused): a wrong address, not an outage. Said once, at once.
                self.stop(Unreachable(f"cannot reach {self.settings.base_url}: {outcome.error}"))
            return outcome
        finally:
            self.probe.finish()

    async def _send(self, result: EntryResult) -> Attempt:
        body = _tagged_body(result, self.environ, self.ledger)
        async with self.slots:
            async with self.pace.start(self.halt.event) as epoch:
                self.halt.check()  # stopped while waiting for a slot or the pace: send nothing
                await self.recorder.sending(result)
            self.recorder.sent()
            sent_at = time.monotonic()
            try:
                outcome = await self.client.create_session(body)
            finally:
                self.pace.landed()
        if isinstance(outcome, AtLimit):
            result.attempts -= 1  # not an attempt, not a throttle, not a server failure
            return outcome
        if isinstance(outcome, RetrySafe):
            # A 503 saying "retry now" (Retry-After: 0) is a hiccup, not a sign of a limit:
            # it must not pull the shared pace down for everyone.
            if outcome.status == 429 or (outcome.status == 503 and outcome.retry_after != 0):
                self.pace.on_throttle(epoch)  # before any await: the epoch is this send's
            await self.recorder.answered(result, outcome)
            if outcome.status != 429:
                self._server_failed(outcome.error)
            return outcome
        if isinstance(outcome, Fatal):
            # Stopped at once, so that no request waiting for the probe starts meanwhile.
            self._credentials_rejected(outcome.error)
            return outcome
        if isinstance(outcome, Final) and outcome.wrong_address:
            # No sessions API at this address: every other entry would get the same answer.
            if not isinstance(self.halt.ending, Unreachable):
                self.stop(Unreachable(outcome.error))
            return outcome
        if isinstance(outcome, InDoubt):
            await self.recorder.answered(result, outcome)
            self._server_failed(outcome.error)
            if result.idempotent(self.settings.idempotency):
                return outcome  # resending returns the same session if it exists
            # A 500 is the server's final word on this request; after a timeout, a 502/504
            # or a lost connection it may still be working on it until our timeout.
            trust_after = 0.0 if outcome.status == 500 else sent_at + self.settings.timeout
            if await self.reconciler.reconcile(result, trust_after) != "absent":
                return None  # recorded by the reconciler
            result.last_in_doubt = False
            return RetrySafe(outcome.error, outcome.status)  # known not created: resend
        result.last_in_doubt = False
        if isinstance(outcome, Created):
            self.pace.on_success()
        self.breaker.record(False)
        return outcome

    def _server_failed(self, error: str) -> None:
        self.breaker.record(True, error)
        if self.breaker.reason:
            self.stop(BreakerOpen(self.breaker.reason))

    def _credentials_rejected(self, error: str) -> None:
        if not isinstance(self.halt.ending, CredentialsRejected | Unreachable):
            key = f"the key is the value of {self.settings.api_key_env}"
            self.stop(CredentialsRejected(f"{error}; {key}"))


def _tagged_body(
    result: EntryResult, environ: Mapping[str, str], ledger: LedgerWriter
) -> dict[str, Any]:
    """The entry's request body with the batch tag `watch` lists its sessions by. A resent
    request keeps the tag it was first sent with: an idempotent resend must be the same
    body, or the API may not know it for the same request."""
    body = result.body(environ)
    prior = ledger.state.get(result.entry.key)
    tag = result.batch or (prior.batch if prior else None) or batch_tag(ledger.run_id)
    result.batch = add_batch_tag(body, tag)
    return body


def _gave_up(state: RetryCallState, max_wait: float) -> Final | InDoubt:
    """The last answer of an entry out of attempts (or out of patience), saying why."""
    last = state.outcome.result() if state.outcome else None
    assert isinstance(last, RetrySafe | InDoubt)
    sleep = state.upcoming_sleep
    if sleep > max_wait:
        why = f"the server asked to wait {sleep:.0f}s, more than --max-wait {max_wait:g}s"
    else:
        why = f"gave up after {state.attempt_number} attempts"
    if isinstance(last, InDoubt):
        return InDoubt(f"{why}; last error: {last.error}", last.status)
    retry_after = last.retry_after if sleep > max_wait else None
    return Final(f"{why}; last error: {last.error}", last.status or 0, retry_after)
