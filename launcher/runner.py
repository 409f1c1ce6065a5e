"""The dispatch loop: each entry becomes exactly one Devin session, recorded in the ledger.

Composed of the pieces beside it: `client` (one API call, classified), `pacing` (one
shared pace, backoff, circuit breaker) and `ledger` (durable intent and outcome).
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import anyio
import httpx
from anyio.abc import TaskGroup
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_result,
    stop_after_attempt,
    stop_any,
)
from tenacity.stop import stop_base

from launcher import ledger as ledger_mod
from launcher import report, validate
from launcher.client import (
    Created,
    DevinClient,
    Fatal,
    Final,
    InDoubt,
    LookupFailed,
    Outcome,
    Redactor,
    RetrySafe,
)
from launcher.entry import Entry, MissingEnv, add_batch_tag, batch_tag
from launcher.errors import ExitCode, LauncherError, UsageError
from launcher.follow.capacity import capacity_hit
from launcher.pacing import CircuitBreaker, Pace, RetryWait, parse_rate
from launcher.plan import select_entries
from launcher.progress import RunProgress

DEFAULT_BASE_URL = "https://api.devin.ai"
LOOKUP_ATTEMPTS = 3  # failed lookups before an entry is left in doubt
SANDBOX_TOKEN = "sandbox"  # sent to an embedded sandbox when no API key is set


@dataclass(frozen=True)
class RunSettings:
    base_url: str = DEFAULT_BASE_URL
    api_key_env: str = "DEVIN_API_KEY"
    concurrency: int = 8
    rate: float | None = None  # requests/s cap; None: adapt to the server
    max_attempts: int = 8
    max_wait: float = 300.0
    timeout: float = 30.0
    reconcile_delay: float = 2.0  # a created session may take a moment to be listed
    drain_timeout: float = 30.0  # after a signal, how long requests in flight may finish
    breaker_span: float = 10.0  # seconds of mostly failing attempts that open the breaker
    breaker_threshold: float = 0.8


@dataclass
class EntryResult:
    entry: Entry
    outcome: str = "pending"  # created, adopted, skipped, failed, in_doubt, pending
    session_id: str | None = None
    url: str | None = None
    error: str | None = None
    status: int | None = None
    reconciled: bool = False
    attempts: int = 0
    batch: str | None = None  # the batch tag its latest request carried
    last_in_doubt: bool = False  # the last answer left it unknown whether it was created
    at_capacity: bool = False  # pending because the organisation was at its session limit


@dataclass
class RunResult:
    results: list[EntryResult]
    ledger: str
    run_id: str
    stopped: str | None = None  # why the run stopped starting entries, if it did
    auth_error: str | None = None
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    capacity: str | None = None  # the one line saying the organisation is at its limit
    capacity_limit: int | None = None

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def exit_code(self) -> ExitCode:
        if self.auth_error:
            return ExitCode.AUTH
        if self.interrupted:
            return ExitCode.INTERRUPTED
        done = {"created", "adopted", "skipped"}
        return ExitCode.OK if all(r.outcome in done for r in self.results) else ExitCode.FAILED


class _Stopped(Exception):
    """No further attempt may start (signal or circuit breaker)."""


class _StopWhen(stop_base):
    """A tenacity stop condition from a predicate on the retry state."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self._predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._predicate(retry_state)


@dataclass(frozen=True)
class Settled:
    """The entry's outcome was already recorded inside the attempt (reconciliation)."""


@dataclass(frozen=True)
class AtLimit:
    """A capacity 429: the organisation runs as many sessions as it may. Not retried here,
    not an attempt, not a throttle: the entry stays pending."""

    error: str
    limit: int | None


class Dispatcher:
    """Runs every entry through send → classify → retry/reconcile → record."""

    def __init__(
        self,
        settings: RunSettings,
        client: DevinClient,
        writer: ledger_mod.LedgerWriter,
        environ: Mapping[str, str],
        progress: RunProgress,
    ) -> None:
        self.settings = settings
        self.client = client
        self.ledger = writer
        self.environ = environ
        self.progress = progress
        self.pace = Pace(cap=settings.rate)
        self.breaker = CircuitBreaker(settings.breaker_span, settings.breaker_threshold)
        self.slots = anyio.CapacityLimiter(settings.concurrency)
        self.stop_event = anyio.Event()
        self.stop_reason: str | None = None
        self.auth_error: str | None = None
        self._cancel: anyio.CancelScope | None = None
        # Without --wait the first capacity 429 stops new starts; a scheduler sets this to
        # keep going and put the entry back in its queue instead.
        self.defer_at_capacity = False
        self.at_capacity = False
        self.capacity_limit: int | None = None

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_event.set()

    async def run(self, results: Sequence[EntryResult]) -> None:
        async with anyio.create_task_group() as tg:
            self._cancel = tg.cancel_scope
            for result in results:
                tg.start_soon(self.dispatch, result)

    async def _sleep(self, seconds: float) -> None:
        """Backoff sleep that a stop cuts short."""
        with anyio.move_on_after(seconds):
            await self.stop_event.wait()

    # --- one entry ---------------------------------------------------------------------

    async def dispatch(self, result: EntryResult) -> None:
        """One entry, start to recorded outcome (the scheduler calls it one at a time)."""
        entry = result.entry
        done = self.ledger.state.created(entry.key)
        if done is not None:
            result.outcome, result.session_id, result.url = "skipped", done.session_id, done.url
            self.progress.skipped(result)
            return
        prior = self.ledger.state.get(entry.key)
        if self.stop_reason:
            return
        try:
            if prior is not None and prior.retry_at is not None:
                # An earlier run was told to wait: the server's Retry-After still holds.
                await self._sleep(_seconds_until(prior.retry_at, 0.0))
                if self.stop_reason:
                    return
            if prior is not None and prior.outcome in ("sending", "in_doubt"):
                # An earlier run may have created it. A request it left in flight may still
                # be on the server until that run's timeout: an idempotent request is resent
                # after it (the API returns the session if it exists), any other is looked up
                # by its tag, and "absent" is trusted only after it.
                wait = 0.0
                if prior.outcome == "sending":
                    wait = _seconds_until(prior.ts, prior.timeout or self.settings.timeout)
                if entry.request.get("idempotent"):
                    await self._sleep(wait)
                    if self.stop_reason:
                        return
                else:
                    result.error = (
                        prior.error or "an earlier run stopped with this request in flight"
                    )
                    trust_after = time.monotonic() + wait
                    if await self._reconcile(result, trust_after) != "absent":
                        return
            outcome = await self._send_with_retries(result)
        except _Stopped:
            self.progress.stopped(result)
            if self.at_capacity and result.error is not None and not result.last_in_doubt:
                # Known not created, and its retry would meet the same full organisation.
                await self._defer(result, f"{result.error} (not retried: {self.stop_reason})")
            elif result.last_in_doubt:
                await self._record_in_doubt(
                    result, f"{result.error} (not retried: {self.stop_reason})"
                )
            elif result.error is not None:  # a retry was due: say why it did not happen
                await self._record_failed(
                    result,
                    f"not retried ({self.stop_reason}); last error: {result.error}",
                    result.status,
                )
            return
        await self._record(result, outcome)

    async def _send_with_retries(self, result: EntryResult) -> Outcome | Settled | AtLimit:
        settings = self.settings

        def gave_up(state: RetryCallState) -> Outcome:
            last = state.outcome.result() if state.outcome else None
            assert isinstance(last, RetrySafe | InDoubt)
            sleep = state.upcoming_sleep
            if sleep > settings.max_wait:
                why = (
                    f"the server asked to wait {sleep:.0f}s, "
                    f"more than --max-wait {settings.max_wait:g}s"
                )
            elif self.stop_reason:
                why = f"not retried ({self.stop_reason})"
            else:
                why = f"gave up after {state.attempt_number} attempts"
            if isinstance(last, InDoubt):
                return InDoubt(f"{why}; last error: {last.error}", last.status)
            return Final(f"{why}; last error: {last.error}", last.status or 0)

        retrying = AsyncRetrying(
            retry=retry_if_result(lambda o: isinstance(o, RetrySafe | InDoubt)),
            wait=RetryWait(settings.max_wait),
            stop=stop_any(
                stop_after_attempt(settings.max_attempts),
                _StopWhen(lambda s: s.upcoming_sleep > settings.max_wait),
                _StopWhen(lambda s: self.stop_reason is not None),
            ),
            sleep=self._sleep,
            before_sleep=lambda s: self.progress.retrying(result, s.upcoming_sleep),
            retry_error_callback=gave_up,
        )
        outcome: Outcome | Settled | AtLimit = await retrying(self._attempt, result)
        return outcome

    async def _attempt(self, result: EntryResult) -> Outcome | Settled | AtLimit:
        """One send. Returns RetrySafe/InDoubt to be retried, anything else to be recorded."""
        if self.stop_reason:
            raise _Stopped
        entry = result.entry
        body = entry.body(self.environ)
        # A resent request keeps the batch tag it was first sent with: an idempotent
        # resend must be the same body, or the API may not know it for the same request.
        prior = self.ledger.state.get(entry.key)
        tag = result.batch or (prior.batch if prior else None) or batch_tag(self.ledger.run_id)
        result.batch = add_batch_tag(body, tag)
        batch = {"batch": result.batch} if result.batch else {}
        async with self.slots:
            if self.stop_reason:
                raise _Stopped
            async with self.pace.start(self.stop_event) as epoch:
                if self.stop_reason:  # stopped while waiting for the pace: send nothing
                    raise _Stopped
                result.attempts += 1
                # The intent is durable, and its timestamp true, right before the send.
                await self.ledger.append(
                    "sending",
                    entry,
                    attempt=result.attempts,
                    timeout=self.settings.timeout,
                    **batch,
                )
            self.progress.sent()
            sent_at = time.monotonic()
            outcome = await self.client.create_session(body)
        result.last_in_doubt = isinstance(outcome, InDoubt)
        if isinstance(outcome, RetrySafe):
            hit = capacity_hit(outcome.status, outcome.error)
            if hit is not None:
                # Not a throttle (no pace change, no breaker) and not an attempt.
                result.attempts -= 1
                return AtLimit(outcome.error, hit.limit)
        if isinstance(outcome, Created):
            self.pace.on_success()
            self.breaker.record(False)
            return outcome
        if isinstance(outcome, RetrySafe):
            result.error, result.status = outcome.error, outcome.status
            if outcome.status in (429, 503):
                self.pace.on_throttle(epoch)
            if outcome.retry_after is not None:
                # Durable, so that a run started after a crash waits it out too.
                await self.ledger.append(
                    "failed",
                    entry,
                    error=f"{outcome.error} (will retry)",
                    status=outcome.status,
                    retry_at=ledger_mod.timestamp(outcome.retry_after),
                )
            if outcome.status != 429:
                self._record_breaker(outcome.error)
            return outcome
        if isinstance(outcome, InDoubt):
            result.error, result.status = outcome.error, outcome.status
            self._record_breaker(outcome.error)
            if entry.request.get("idempotent"):
                return outcome  # resending returns the same session if it exists
            # A 500 is the server's final word on this request; after a timeout, a 502/504
            # or a lost connection it may still be working on it until our timeout.
            trust_after = 0.0 if outcome.status == 500 else sent_at + self.settings.timeout
            found = await self._reconcile(result, trust_after)
            if found != "absent":
                return Settled()
            result.last_in_doubt = False
            return RetrySafe(outcome.error, outcome.status)  # known not created: resend
        self.breaker.record(False)
        return outcome

    def _record_breaker(self, error: str) -> None:
        self.breaker.record(True, error)
        if self.breaker.open and self.breaker.reason:
            self.stop(f"circuit breaker open: {self.breaker.reason}")

    async def _reconcile(self, result: EntryResult, trust_after: float) -> str:
        """Look the entry up by its tag: "found" (recorded created), "absent" (safe to send),
        or "unknown" (no tag, or the lookup kept failing: recorded in doubt).

        "absent" is trusted only once `trust_after` (monotonic) has passed: until then the
        server may still be creating it. The waits here are not cut short by a stop: an
        early answer could be wrong, and a second signal or the drain deadline cancels them.
        """
        entry = result.entry
        tag = entry.reconcile_tag
        if tag is None:
            await self._record_in_doubt(
                result,
                f"{result.error}; cannot look it up: the entry has 50 tags, no room "
                "for the reconciliation tag",
            )
            return "unknown"
        delay = self.settings.reconcile_delay
        await anyio.sleep(delay)
        failures, last_error = 0, "lookup failed"
        while failures < LOOKUP_ATTEMPTS:
            try:
                async with self.slots:
                    async with self.pace.start():
                        pass
                    found = await self.client.find_by_tag(tag)
            except LookupFailed as exc:
                failures += 1
                last_error = str(exc)
                await anyio.sleep(delay * failures)
                continue
            if not found:
                remaining = trust_after - time.monotonic()
                if remaining <= 0:
                    return "absent"
                await anyio.sleep(remaining)  # ask again once the request cannot be pending
                trust_after = 0.0
                continue
            if len(found) > 1:
                ids = ", ".join(str(f["session_id"]) for f in found)
                self.progress.log(
                    f"warning: {len(found)} sessions carry the tag of {entry.entry_id} "
                    f"(possible duplicate sessions): {ids}",
                    warn=True,
                )
            session = found[0]
            result.reconciled = True
            url = session.get("url")
            created = Created(
                session_id=str(session["session_id"]),
                url=url if isinstance(url, str) and url else None,
                is_new_session=True,
            )
            await self._record(result, created)
            return "found"
        await self._record_in_doubt(result, f"{result.error}; then {last_error}")
        return "unknown"

    # --- recording ---------------------------------------------------------------------

    async def _record(self, result: EntryResult, outcome: Outcome | Settled | AtLimit) -> None:
        entry = result.entry
        if isinstance(outcome, Settled):
            return
        if isinstance(outcome, AtLimit):
            self.at_capacity = True
            self.capacity_limit = outcome.limit or self.capacity_limit
            of = f" of {outcome.limit}" if outcome.limit else ""
            if not self.defer_at_capacity:
                self.stop(f"the organisation is at its concurrent-session limit{of}")
            await self._defer(result, outcome.error)
            return
        if isinstance(outcome, Created):
            result.outcome = "adopted" if outcome.is_new_session is False else "created"
            result.session_id, result.url = outcome.session_id, outcome.url
            result.error = result.status = None
            fields: dict[str, Any] = {
                "session_id": outcome.session_id,
                "url": outcome.url,
                "is_new_session": outcome.is_new_session,
            }
            if result.reconciled:
                fields["reconciled"] = True
            if result.batch and not result.reconciled:
                fields["batch"] = result.batch
            await self.ledger.append("created", entry, **fields)
            self.progress.created(result)
        elif isinstance(outcome, Fatal):
            await self._record_failed(result, outcome.error, outcome.status)
            if self.auth_error is None:
                self.auth_error = outcome.error
                self.stop("the API rejected the credentials")
                if self._cancel is not None:
                    self._cancel.cancel()
        elif isinstance(outcome, Final):
            await self._record_failed(result, outcome.error, outcome.status or None)
        elif isinstance(outcome, InDoubt):
            await self._record_in_doubt(result, outcome.error)

    async def _defer(self, result: EntryResult, error: str) -> None:
        """Pending, durably: a `failed` event marked `at_capacity`, which the ledger folds
        as pending, so the next run sends it without waiting out or looking up anything."""
        result.outcome, result.error, result.at_capacity = "pending", error, True
        await self.ledger.append("failed", result.entry, error=error, status=429, at_capacity=True)
        self.progress.stopped(result)

    async def _record_failed(self, result: EntryResult, error: str, status: int | None) -> None:
        result.outcome, result.error, result.status = "failed", error, status
        await self.ledger.append("failed", result.entry, error=error, status=status)
        self.progress.failed(result)

    async def _record_in_doubt(self, result: EntryResult, error: str) -> None:
        result.outcome, result.error = "in_doubt", error
        await self.ledger.append("in_doubt", result.entry, error=error)
        self.progress.in_doubt(result)


# --- the command ---------------------------------------------------------------------------


def _seconds_until(ts: str, after: float) -> float:
    """Seconds from now until `after` seconds past the ledger timestamp `ts`."""
    try:
        then = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return after
    return max(0.0, then.timestamp() + after - datetime.now(timezone.utc).timestamp())


def settings_from_args(args: argparse.Namespace) -> RunSettings:
    for flag, value in (("--concurrency", args.concurrency), ("--max-attempts", args.max_attempts)):
        if value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    for flag, seconds in (("--timeout", args.timeout), ("--max-wait", args.max_wait)):
        if seconds <= 0:
            raise UsageError(f"{flag} must be a positive number of seconds, got {seconds:g}")
    if args.sandbox and args.base_url:
        raise UsageError("--sandbox and --base-url both given; use one of them")
    base_url = args.base_url or os.environ.get("DEVIN_BASE_URL") or DEFAULT_BASE_URL
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        url = httpx.URL("invalid:")
    if url.scheme not in ("http", "https") or not url.host:
        source = "--base-url" if args.base_url else "DEVIN_BASE_URL"
        raise UsageError(
            f"{source} {base_url!r} is not an http(s) URL; write it like https://api.devin.ai"
        )
    return RunSettings(
        base_url=base_url.rstrip("/"),
        api_key_env=args.api_key_env,
        concurrency=args.concurrency,
        rate=parse_rate(args.rate) if args.rate else None,
        max_attempts=args.max_attempts,
        max_wait=args.max_wait,
        timeout=args.timeout,
        reconcile_delay=args.reconcile_delay,
    )


def check_environment(
    entries: Sequence[Entry], environ: Mapping[str, str], api_key_env: str | None
) -> None:
    """Exit 2 before sending anything when the key or a secret's variable is unset."""
    lines = []
    if api_key_env is not None and not environ.get(api_key_env):
        lines.append(f"  {api_key_env} (the API key)")
    missing: dict[str, list[str]] = {}
    for entry in entries:
        for name in entry.env_vars():
            if name not in environ:
                missing.setdefault(name, []).append(entry.entry_id)
    for name, users in missing.items():
        shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
        lines.append(f"  {name} (used by {shown})")
    if lines:
        raise UsageError(
            "these environment variables are not set; set them and run again:\n" + "\n".join(lines)
        )


@contextmanager
def _target(settings: RunSettings, use_sandbox: bool) -> Iterator[RunSettings]:
    if not use_sandbox:
        yield settings
        return
    from launcher.sandbox.config import SandboxConfig
    from launcher.sandbox.server import running_sandbox

    with running_sandbox(SandboxConfig(port=0, api_key=None)) as handle:
        yield replace(settings, base_url=handle.base_url)


def run_command(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if args.wait or args.max_active:
        from launcher.follow.scheduled import scheduled_settings

        scheduled_settings(args)  # a bad --poll-interval is a usage error before anything is sent
    checked = validate.check(args.paths, run_key=args.run_key)
    if checked.diagnostics:
        report.print_check(checked, args.format)
        return ExitCode.USAGE
    entries = select_entries(checked.entries, args.select)
    report.warn_untagged(entries)
    environ = dict(os.environ)
    check_environment(entries, environ, None if args.sandbox else settings.api_key_env)
    api_key = environ.get(settings.api_key_env) or SANDBOX_TOKEN
    redact = Redactor([api_key, *(entry_secret_values(entries, environ))])
    run_id = ledger_mod.new_run_id()
    with (
        ledger_mod.LedgerWriter.open(args.ledger, run_id) as writer,
        _target(settings, args.sandbox) as settings,
    ):
        progress = RunProgress(
            total=len(entries), fmt=args.format, mode=args.progress, redact=redact
        )
        done = sum(1 for e in entries if writer.state.created(e.key))
        progress.start(settings.base_url, writer.path, settings.rate, settings.concurrency, done)
        if args.wait or args.max_active:
            # Started as slots free, watched in the same loop (SPEC §9 Capacity).
            from launcher.follow.scheduled import scheduled_command

            return scheduled_command(args, settings, entries, writer, environ, redact, progress)
        try:
            result = anyio.run(
                _dispatch_all, settings, entries, writer, environ, api_key, redact, progress
            )
        except BaseException as exc:
            # Errors raised in a worker arrive wrapped in an exception group: give the
            # user the launcher's own message (a ledger that cannot be written, say).
            raise _launcher_error(exc) from None
        result.warnings.extend(writer.state.warnings)
    progress.finish()
    report.print_run(result, args.format, redact=redact)
    return int(result.exit_code)


def _launcher_error(exc: BaseException) -> BaseException:
    """The first LauncherError inside (nested) exception groups, else `exc` itself."""
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if isinstance(current, LauncherError):
            return current
        pending.extend(getattr(current, "exceptions", ()))
    return exc


def entry_secret_values(entries: Sequence[Entry], environ: Mapping[str, str]) -> list[str]:
    values: list[str] = []
    for entry in entries:
        try:
            body = entry.body(environ)
        except MissingEnv:
            continue
        values.extend(str(s.get("value", "")) for s in body.get("session_secrets") or [])
    return values


async def _dispatch_all(
    settings: RunSettings,
    entries: Sequence[Entry],
    writer: ledger_mod.LedgerWriter,
    environ: Mapping[str, str],
    api_key: str,
    redact: Redactor,
    progress: RunProgress,
) -> RunResult:
    results = [EntryResult(entry) for entry in entries]
    timeout = httpx.Timeout(settings.timeout, connect=min(10.0, settings.timeout))
    limits = httpx.Limits(
        max_connections=settings.concurrency,
        max_keepalive_connections=settings.concurrency,
        keepalive_expiry=4.0,
    )
    interrupted = False
    async with httpx.AsyncClient(
        base_url=settings.base_url, timeout=timeout, limits=limits
    ) as http:
        dispatcher = Dispatcher(
            settings, DevinClient(http, api_key, redact), writer, environ, progress
        )
        progress.attach(dispatcher.pace)
        async with anyio.create_task_group() as outer:

            async def watch_signals() -> None:
                nonlocal interrupted
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for signum in signals:
                        if interrupted:  # second signal: abort at once
                            name = signal.Signals(signum).name
                            progress.log(f"second {name}: aborting the requests in flight")
                            outer.cancel_scope.cancel()
                            return
                        interrupted = True
                        name = signal.Signals(signum).name
                        dispatcher.stop(f"interrupted by {name}")
                        progress.log(
                            f"{name}: starting nothing new; letting requests in "
                            f"flight finish (again to abort)"
                        )
                        outer.start_soon(_deadline, outer, settings.drain_timeout)

            outer.start_soon(watch_signals)
            await dispatcher.run(results)
            outer.cancel_scope.cancel()
    stopped = dispatcher.stop_reason if not dispatcher.auth_error else None
    capacity = None
    if dispatcher.at_capacity and not dispatcher.auth_error and not interrupted:
        stopped, capacity = None, _capacity_line(dispatcher.capacity_limit, results)
    return RunResult(
        results=results,
        ledger=str(writer.path),
        run_id=writer.run_id,
        stopped=stopped,
        auth_error=dispatcher.auth_error,
        interrupted=interrupted,
        capacity=capacity,
        capacity_limit=dispatcher.capacity_limit,
    )


def _capacity_line(limit: int | None, results: Sequence[EntryResult]) -> str:
    waiting = sum(1 for r in results if r.outcome == "pending")
    of = f" of {limit}" if limit else ""
    entries = f"{waiting} entr{'y waits' if waiting == 1 else 'ies wait'}"
    return (
        f"the organisation is at its concurrent-session limit{of}: {entries}; run again with "
        "the same ledger once sessions end, and the run continues"
    )


async def _deadline(group: TaskGroup, seconds: float) -> None:
    await anyio.sleep(seconds)
    group.cancel_scope.cancel()
