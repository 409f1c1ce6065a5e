"""One run: every entry dispatched over one httpx client, with SIGINT/SIGTERM draining the
requests in flight (a second signal aborts). The check of the environment before anything
is sent, and the secrets' values for the redactor, are `dispatch.environment`'s."""

from __future__ import annotations

import signal
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio
from anyio.abc import TaskGroup

from launcher.api.connection import Connection
from launcher.api.outcomes import SessionsAPI
from launcher.dispatch.dispatcher import Dispatcher
from launcher.dispatch.drain import SIGNALS, Drain
from launcher.dispatch.ending import Interrupted
from launcher.dispatch.recorder import Progress
from launcher.dispatch.results import EntryResult, RunResult
from launcher.dispatch.settings import RunSettings
from launcher.entry import Entry
from launcher.ledger.writer import LedgerWriter

P = TypeVar("P", bound=Progress, covariant=True)


@dataclass(frozen=True)
class RunContext(Generic[P]):
    """What `run`, `run --wait` and `rerun` send with, built once by the command: how to
    send, the one connection (its client, redactor and target), the ledger held, the
    environment the secrets come from, and what the user is shown."""

    settings: RunSettings
    conn: Connection
    writer: LedgerWriter
    environ: Mapping[str, str]
    progress: P  # `run --wait` shows the slots too: `follow.ports.SlotsProgress`

    def dispatcher(
        self, client: SessionsAPI, reruns: Mapping[str, str] | None = None
    ) -> Dispatcher:
        """The run's one dispatcher, over `client` (from `conn.client`)."""
        return Dispatcher(self.settings, client, self.writer, self.environ, self.progress, reruns)


async def dispatch_all(
    ctx: RunContext[Progress], entries: Sequence[Entry], reruns: Mapping[str, str] | None = None
) -> RunResult:
    """Dispatch every entry; returns once each is settled, stopped or cut off. `reruns`:
    dispatch key -> the session a new one replaces (`launcher rerun`)."""
    # The receiver below replaces the handlers and, when it closes, leaves SIGTERM at its
    # default (killed, exit 143): put back what was there, for the report that follows.
    before = {s: signal.getsignal(s) for s in SIGNALS}
    try:
        result = await _dispatch(ctx, entries, reruns)
    finally:
        if threading.current_thread() is threading.main_thread():
            for s, handler in before.items():
                if handler is not None:
                    signal.signal(s, handler)
    return result


async def _dispatch(
    ctx: RunContext[Progress], entries: Sequence[Entry], reruns: Mapping[str, str] | None
) -> RunResult:
    results = [EntryResult(entry) for entry in entries]
    settings, writer, progress = ctx.settings, ctx.writer, ctx.progress
    async with ctx.conn.client(settings.timeout, concurrency=settings.concurrency) as client:
        dispatcher = ctx.dispatcher(client, reruns)
        async with anyio.create_task_group() as outer:

            def drain(name: str) -> None:
                dispatcher.stop(Interrupted(name))
                progress.log(
                    f"{name}: starting nothing new; letting requests in flight finish "
                    "(again to abort)"
                )
                outer.start_soon(_deadline, outer, settings.drain_timeout)

            outer.start_soon(Drain(drain, progress.log).watch, outer)
            await dispatcher.run(results)
            outer.cancel_scope.cancel()
    return RunResult(
        results=results,
        ledger=str(writer.path),
        run_id=writer.run_id,
        ending=dispatcher.ending,
        warnings=list(writer.state.warnings),
        capacity_limit=dispatcher.capacity.limit,
    )


async def _deadline(group: TaskGroup, seconds: float) -> None:
    await anyio.sleep(seconds)
    group.cancel_scope.cancel()
