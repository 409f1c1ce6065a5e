"""`run --wait` and `run --max-active N`: the dispatcher starts entries as the slot
scheduler allows, the watch's poll settles them (recording each change), and
`--terminate-settled` frees the slot of each session whose final result is recorded."""

from __future__ import annotations

import argparse
import signal
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import anyio
import httpx

from launcher import ledger as ledger_mod
from launcher import report
from launcher.client import ApiError, DevinClient, Redactor
from launcher.entry import Entry
from launcher.errors import ExitCode, UsageError
from launcher.follow.poll import RetryPolicy
from launcher.follow.render import WatchReporter
from launcher.follow.slots import (
    AtCapacity,
    Done,
    SlotScheduler,
    SlotSettings,
    SlotSnapshot,
    Started,
    StartResult,
)
from launcher.follow.targets import Target, build_targets
from launcher.follow.watch import WatchSettings, refresh
from launcher.progress import RunProgress
from launcher.runner import Dispatcher, EntryResult, RunResult, RunSettings

CREATED = ("created", "adopted", "skipped")


@dataclass(frozen=True)
class ScheduledSettings:
    slots: SlotSettings
    watch: WatchSettings
    terminate_settled: bool = False


@dataclass
class ScheduledOutcome:
    run: RunResult
    targets: list[Target]
    timed_out: bool
    slots: SlotSnapshot


class _Batch:
    """The glue between the scheduler's callbacks and the dispatcher, targets and ledger."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        client: DevinClient,
        writer: ledger_mod.LedgerWriter,
        targets: list[Target],
        settings: ScheduledSettings,
        reporter: WatchReporter,
        redact: Callable[[str], str],
    ) -> None:
        self.dispatcher, self.client, self.writer = dispatcher, client, writer
        self.targets = targets
        self.by_key = {t.entry.key: t for t in targets}
        self.settings, self.reporter, self.redact = settings, reporter, redact
        self.policy = RetryPolicy()

    def _by_session(self) -> Mapping[str, Target]:
        return {t.session_id: t for t in self.targets if t.session_id}

    async def start(self, result: EntryResult) -> StartResult:
        await self.dispatcher.dispatch(result)
        target = self.by_key[result.entry.key]
        if result.outcome in CREATED and result.session_id:
            if target.session_id != result.session_id:
                target.session_id, target.url = result.session_id, result.url
                target.batch, target.create_error, target.status = result.batch, None, None
            # An earlier run's session the ledger already knows settled holds nothing.
            return Started(result.session_id) if target.active else Done()
        if result.outcome == "pending" and result.at_capacity and not self.dispatcher.stop_reason:
            return AtCapacity(self.dispatcher.capacity_limit)
        if result.error:
            target.create_error = result.error
        return Done()

    async def poll(self, ids: Collection[str]) -> Collection[str]:
        by_session = self._by_session()
        watched = [by_session[s] for s in ids if s in by_session]
        expected = Counter(t.batch for t in self.targets if t.session_id and t.batch)
        try:
            await refresh(
                self.client,
                self.writer,
                watched,
                expected,
                self.policy,
                self.redact,
                self.reporter.change,
            )
        except ApiError as exc:
            self.reporter.log(f"warning: poll failed ({exc}); trying again at the next poll")
            return ()
        return [t.session_id for t in watched if t.session_id and not t.active]

    async def terminate(self, session_id: str) -> bool:
        """`--terminate-settled`: the final status is recorded; free its slot."""
        try:
            await self.client.delete_session(session_id)
        except ApiError as exc:
            self.reporter.log(f"warning: could not terminate {session_id} ({exc})")
            return False
        return True


async def run_scheduled(
    settings: RunSettings,
    scheduled: ScheduledSettings,
    entries: Sequence[Entry],
    writer: ledger_mod.LedgerWriter,
    environ: Mapping[str, str],
    api_key: str,
    redact: Redactor,
    progress: RunProgress,
    reporter: WatchReporter,
) -> ScheduledOutcome:
    results = [EntryResult(entry) for entry in entries]
    targets = build_targets(entries, writer.state)
    timeout = httpx.Timeout(settings.timeout, connect=min(10.0, settings.timeout))
    limits = httpx.Limits(
        max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
    )
    interrupted, timed_out = False, False
    async with httpx.AsyncClient(
        base_url=settings.base_url, timeout=timeout, limits=limits
    ) as http:
        client = DevinClient(http, api_key, redact)
        dispatcher = Dispatcher(settings, client, writer, environ, progress)
        dispatcher.defer_at_capacity = True
        progress.attach(dispatcher.pace)
        batch = _Batch(dispatcher, client, writer, targets, scheduled, reporter, redact)
        scheduler = SlotScheduler(
            results,
            batch.start,
            batch.poll,
            scheduled.slots,
            on_settled=batch.terminate if scheduled.terminate_settled else None,
            notify=progress.log,
        )
        progress.attach_slots(scheduler.snapshot)
        async with anyio.create_task_group() as outer:

            async def watch_signals() -> None:
                nonlocal interrupted
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for signum in signals:
                        name = signal.Signals(signum).name
                        if interrupted:
                            progress.log(f"second {name}: aborting the requests in flight")
                            outer.cancel_scope.cancel()
                            return
                        interrupted = True
                        dispatcher.stop(f"interrupted by {name}")
                        scheduler.stop()
                        progress.log(
                            f"{name}: starting nothing new; letting requests in flight finish "
                            "(again to abort); the sessions keep working: `launcher watch` "
                            "follows them"
                        )

            async def deadline(seconds: float) -> None:
                # Like a first signal: start nothing more, let creates in flight finish (a
                # cancelled create would leave the next run a request to wait out).
                nonlocal timed_out
                await anyio.sleep(seconds)
                timed_out = True
                dispatcher.stop("--wait-timeout passed")
                scheduler.stop()

            outer.start_soon(watch_signals)
            # Sessions of earlier runs: one poll first, so that those already settled take
            # no slot and those still working count against the limit from the start.
            await batch.poll([t.session_id for t in targets if t.active and t.session_id])
            if scheduled.watch.timeout is not None:
                outer.start_soon(deadline, scheduled.watch.timeout)
            await scheduler.run()
            outer.cancel_scope.cancel()
    run = RunResult(
        results=results,
        ledger=str(writer.path),
        run_id=writer.run_id,
        stopped=dispatcher.stop_reason if not dispatcher.auth_error else None,
        auth_error=dispatcher.auth_error,
        interrupted=interrupted,
        capacity_limit=scheduler.limit,
    )
    for result in results:  # entries never sent, or waiting for a slot when it ended
        target = batch.by_key[result.entry.key]
        if target.session_id is None and result.outcome == "pending":
            target.create_error = (
                "still waiting for a slot (the organisation was at its concurrent-session "
                "limit); `launcher run` continues"
                if result.at_capacity
                else "never sent; `launcher run` sends it"
            )
    return ScheduledOutcome(run, targets, timed_out, scheduler.snapshot())


def slots_line(snapshot: SlotSnapshot, max_active: int | None) -> str:
    """The summary's line about capacity."""
    if snapshot.limit is not None:
        limit = f"concurrent-session limit {snapshot.limit} (learned from the API)"
    else:
        limit = "concurrent-session limit not met"
    cap = f", --max-active {max_active}" if max_active is not None else ""
    refused = snapshot.capacity_429s
    return (
        f"{limit}{cap}: at most {snapshot.most_working} of this run's sessions worked at "
        f"once; {refused} create{'s' * (refused != 1)} refused at the limit (no attempt spent)"
    )


def scheduled_settings(args: argparse.Namespace) -> ScheduledSettings:
    from launcher.follow.commands import watch_settings

    watch = watch_settings(args)
    try:
        slots = SlotSettings(
            max_active=args.max_active,
            poll_interval=watch.poll_interval,
            probe_interval=args.probe_interval,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return ScheduledSettings(slots, watch, args.terminate_settled)


def scheduled_command(
    args: argparse.Namespace,
    settings: RunSettings,
    entries: Sequence[Entry],
    writer: ledger_mod.LedgerWriter,
    environ: Mapping[str, str],
    redact: Redactor,
    progress: RunProgress,
) -> int:
    """`run --wait` / `run --max-active N` with the ledger held; the exit code (SPEC §9)."""
    from launcher.runner import SANDBOX_TOKEN, _launcher_error

    scheduled = scheduled_settings(args)
    api_key = environ.get(settings.api_key_env) or SANDBOX_TOKEN
    reporter = WatchReporter(args.format, redact, live=False)
    try:
        outcome = anyio.run(
            run_scheduled,
            settings,
            scheduled,
            entries,
            writer,
            environ,
            api_key,
            redact,
            progress,
            reporter,
        )
    except BaseException as exc:
        raise _launcher_error(exc) from None
    progress.finish()
    run = outcome.run
    run.warnings.extend(writer.state.warnings)
    if run.auth_error or run.interrupted:
        report.print_run(run, args.format, redact=redact)
        return int(run.exit_code)
    if args.format != "json":
        reporter.log(slots_line(outcome.slots, scheduled.slots.max_active))
    reporter.summary(outcome.targets, scheduled.watch.blocked_ok, outcome.timed_out)
    verdicts = [t.verdict(scheduled.watch.blocked_ok, outcome.timed_out) for t in outcome.targets]
    return int(ExitCode.OK if all(v.ended_well for v in verdicts) else ExitCode.FAILED)
