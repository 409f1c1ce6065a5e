"""`run --wait` and `run --max-active N`: the dispatcher starts entries as the slot
scheduler allows, the watch's poll settles them (recording each change), and
`--terminate-settled` frees the slot of each session whose final result is recorded.
The first signal starts nothing new and keeps watching; the second terminates the
active sessions of the run's entries, as `cancel` does."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import anyio

from launcher.api.followclient import FollowClient
from launcher.api.outcomes import ApiError
from launcher.api.retry import RetryPolicy
from launcher.dispatch.dispatcher import Dispatcher
from launcher.dispatch.drain import Drain
from launcher.dispatch.ending import Interrupted, OverBudget, TimedOut
from launcher.dispatch.results import EntryResult, RunResult
from launcher.dispatch.run import RunContext
from launcher.entry import Entry
from launcher.follow import cancel as cancel_mod
from launcher.follow.budget import Budget, budget_note, limit_of
from launcher.follow.poll import Memo
from launcher.follow.ports import SlotsProgress, WatchProgress
from launcher.follow.signals import until_signal
from launcher.follow.slots import (
    AtCapacity,
    Done,
    Retry,
    SlotScheduler,
    SlotSettings,
    SlotSnapshot,
    Started,
    StartResult,
)
from launcher.follow.targets import Target, build_targets
from launcher.follow.watch import WatchSettings, refresh
from launcher.ledger.writer import LedgerWriter


@dataclass(frozen=True)
class ScheduledSettings:
    slots: SlotSettings
    watch: WatchSettings
    terminate_settled: bool = False
    max_acus: float | None = None  # the batch's budget (run --max-acus)


@dataclass
class ScheduledOutcome:
    run: RunResult
    targets: list[Target]
    timed_out: bool
    slots: SlotSnapshot
    cancelled: cancel_mod.CancelOutcome | None = None  # by a second signal
    budget_note: str | None = None  # the budget left entries unstarted: which


class _Batch:
    """The glue between the scheduler's callbacks and the dispatcher, targets and ledger."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        client: FollowClient,
        writer: LedgerWriter,
        targets: list[Target],
        reporter: WatchProgress,
        redact: Callable[[str], str],
    ) -> None:
        self.dispatcher, self.client, self.writer = dispatcher, client, writer
        self.targets = targets
        self.by_key = {t.entry.key: t for t in targets}
        self.reporter, self.redact = reporter, redact
        self.policy = RetryPolicy()
        self._memo: Memo = {}  # rows seen at the last poll: an unchanged one is not read again
        self.budget: Budget | None = None

    def over_budget(self, result: EntryResult) -> StartResult | None:
        """With --max-acus: Retry (wait for working sessions to settle) or Done (nothing
        working: the budget is spent for this batch) when this entry may not start."""
        budget = self.budget
        if budget is None or self.dispatcher.stop_reason:
            return None
        target = self.by_key[result.entry.key]
        if target.session_id is not None:
            return None  # already has its session: nothing more to spend on starting it
        need = limit_of(target)
        if budget.committed(self.targets) + need <= budget.total:
            budget.reserved[result.entry.key] = need
            return None
        if any(t.active for t in self.targets if t.session_id) or budget.reserved:
            return Retry(budget.recheck)
        budget.stopped = True
        self.dispatcher.stop(OverBudget(budget.total))
        return Done()

    async def start(self, result: EntryResult) -> StartResult:
        held = self.over_budget(result)
        if held is not None:
            return held
        try:
            await self.dispatcher.dispatch(result)
        finally:
            if self.budget is not None:
                self.budget.reserved.pop(result.entry.key, None)
        target = self.by_key[result.entry.key]
        if result.outcome.has_session and result.session_id:
            if target.session_id != result.session_id:
                target.session_id, target.url = result.session_id, result.url
                target.batch, target.create_error, target.status = result.batch, None, None
            # An earlier run's session the ledger already knows settled holds nothing.
            return Started(result.session_id) if target.active else Done()
        if result.outcome == "pending" and result.at_capacity and not self.dispatcher.stop_reason:
            return AtCapacity(self.dispatcher.capacity.limit)
        if result.error:
            target.create_error = result.error
        return Done()

    async def poll(self, ids: Collection[str]) -> Collection[str]:
        asked = set(ids)
        # Every entry of a session: two may share one (idempotent, one prompt).
        watched = [t for t in self.targets if t.session_id in asked]
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
                self.reporter.log,
                self._memo,
            )
        except ApiError as exc:
            self.reporter.log(f"warning: poll failed ({exc}); trying again at the next poll")
            return ()
        still = {t.session_id for t in watched if t.active}
        return [s for s in asked if s not in still]

    async def terminate(self, session_id: str) -> bool:
        """`--terminate-settled`: the final status is recorded; free its slot."""
        try:
            await self.client.delete_session(session_id)
        except ApiError as exc:
            self.reporter.log(f"warning: could not terminate {session_id} ({exc})")
            return False
        return True

    async def cancel_active(self) -> cancel_mod.CancelOutcome:
        """A second signal: terminate the run's entries' sessions still active."""
        active = len(cancel_mod.to_cancel(self.targets))
        self.reporter.log(f"terminating the {active} active sessions (again to abort)")
        return await cancel_mod.cancel(
            self.client, self.writer, self.targets, self.policy, self.redact
        )


async def run_scheduled(
    ctx: RunContext[SlotsProgress],
    scheduled: ScheduledSettings,
    entries: Sequence[Entry],
    reporter: WatchProgress,
) -> ScheduledOutcome:
    settings, writer, progress, redact = ctx.settings, ctx.writer, ctx.progress, ctx.conn.redact
    results = [EntryResult(entry) for entry in entries]
    targets = build_targets(entries, writer.state)
    timed_out = False
    cancelled = None
    async with ctx.conn.client(settings.timeout, concurrency=settings.concurrency) as client:
        dispatcher = ctx.dispatcher(client)
        dispatcher.capacity.defer = True
        dispatcher.expect(results)
        batch = _Batch(dispatcher, client, writer, targets, reporter, redact)
        if scheduled.max_acus is not None:
            batch.budget = Budget(scheduled.max_acus, scheduled.slots.poll_interval)
        scheduler = SlotScheduler(
            results,
            batch.start,
            batch.poll,
            scheduled.slots,
            on_settled=batch.terminate if scheduled.terminate_settled else None,
            notify=progress.log,
        )

        def drain(name: str) -> None:
            dispatcher.stop(Interrupted(name))
            scheduler.stop(keep_watching=True)
            progress.log(
                f"{name}: starting nothing new; letting requests in flight finish and "
                "watching the running sessions until they settle (again to terminate "
                "them; stopped otherwise, `launcher watch` follows them later)"
            )

        signals = Drain(drain, progress.log)
        progress.attach_slots(scheduler.snapshot)
        async with anyio.create_task_group() as outer:

            async def deadline(seconds: float) -> None:
                # Like a first signal: start nothing more, let creates in flight finish (a
                # cancelled create would leave the next run a request to wait out).
                nonlocal timed_out
                await anyio.sleep(seconds)
                timed_out = True
                dispatcher.stop(TimedOut())
                scheduler.stop()

            outer.start_soon(signals.watch, outer)
            outer.start_soon(_ticking, reporter, targets)
            # Sessions of earlier runs: one poll first, so that those already settled take
            # no slot and those still working count against the limit from the start.
            await batch.poll([t.session_id for t in targets if t.active and t.session_id])
            if scheduled.watch.timeout is not None:
                outer.start_soon(deadline, scheduled.watch.timeout)
            await scheduler.run()
            outer.cancel_scope.cancel()
        if signals.count > 1:
            progress.finish()
            done = await until_signal(batch.cancel_active)
            if not done:  # a third signal
                raise KeyboardInterrupt
            cancelled = done[0]
    run = RunResult(
        results=results,
        ledger=str(writer.path),
        run_id=writer.run_id,
        ending=dispatcher.ending,
        capacity_limit=scheduler.limit,
    )
    _say_why_not_created(results, batch.by_key)
    note = budget_note(batch.budget, results) if batch.budget else None
    return ScheduledOutcome(run, targets, timed_out, scheduler.snapshot(), cancelled, note)


async def _ticking(reporter: WatchProgress, targets: Sequence[Target]) -> None:
    """Once a second: the live table's clock and ETA move, a heartbeat line is due."""
    while True:
        await anyio.sleep(1.0)
        reporter.tick(targets)


def _say_why_not_created(results: Sequence[EntryResult], by_key: Mapping[str, Target]) -> None:
    for result in results:  # entries never sent, or waiting for a slot when it ended
        target = by_key[result.entry.key]
        if target.session_id is None and result.outcome == "pending":
            target.create_error = (
                "still waiting for a slot (the organisation was at its concurrent-session "
                "limit); `launcher run` continues"
                if result.at_capacity
                else "never sent; `launcher run` sends it"
            )
