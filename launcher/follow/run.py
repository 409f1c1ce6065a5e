"""The follow-through commands put together (`watch`, `cancel`, `message`, `run --wait`): an
API client for the command's duration, over a ledger the caller holds, with SIGINT/SIGTERM
stopping the work between durable appends. Values out; `launcher.output` shows them."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import anyio
import httpx

from launcher.api.client import DevinClient, Redactor
from launcher.api.outcomes import ApiError
from launcher.entry import Entry
from launcher.errors import ApiUnavailable, LauncherError
from launcher.follow import cancel as cancel_mod
from launcher.follow import message as message_mod
from launcher.follow.poll import RetryPolicy
from launcher.follow.ports import WatchProgress
from launcher.follow.targets import Target, build_targets, expected_per_batch
from launcher.follow.watch import WatchOutcome, WatchSettings, refresh, watch
from launcher.ledger.read import read_state
from launcher.ledger.writer import LedgerWriter

T = TypeVar("T")
REQUEST_TIMEOUT = 30.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class Connection:
    """Where the API is and how to speak to it: checked by the caller (`cli`), as for `run`."""

    base_url: str
    api_key: str
    redact: Redactor


@dataclass
class WaitOutcome:
    """`run --wait`: the watch, and the sessions terminated if a second signal came."""

    watched: WatchOutcome
    cancelled: cancel_mod.CancelOutcome | None = None
    interrupted: bool = False


def _targets(writer: LedgerWriter, entries: Sequence[Entry]) -> tuple[list[Target], dict[str, int]]:
    state = read_state(writer.path)  # fresh: a run may just have appended
    return build_targets(entries, state), dict(expected_per_batch(state))


@asynccontextmanager
async def _client(conn: Connection) -> AsyncIterator[DevinClient]:
    timeout = httpx.Timeout(REQUEST_TIMEOUT, connect=10.0)
    async with httpx.AsyncClient(base_url=conn.base_url, timeout=timeout) as http:
        yield DevinClient(http, conn.api_key, conn.redact)


async def _until_signal(work: Callable[[], Awaitable[T]]) -> list[T]:
    """[work()], or [] once SIGINT or SIGTERM arrives (work is cancelled at its next
    checkpoint; each ledger append is durable once written)."""
    done: list[T] = []
    async with anyio.create_task_group() as tg:

        async def on_signal() -> None:
            with anyio.open_signal_receiver(*SIGNALS) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(on_signal)
        done.append(await work())
        tg.cancel_scope.cancel()
    return done


def _run(main: Callable[[], Awaitable[T]]) -> T:
    """anyio.run(main), with the launcher's own error (from inside task groups) raised as
    itself, and an API that never answered usably as ApiUnavailable (exit 1)."""
    try:
        return anyio.run(main)
    except BaseException as exc:
        raise _unwrapped(exc) from None


def _unwrapped(exc: BaseException) -> BaseException:
    pending, alone = [exc], exc
    while pending:
        current = pending.pop(0)
        if isinstance(current, LauncherError):
            return current
        if isinstance(current, ApiError):
            return ApiUnavailable(f"the API gave no usable answer: {current}")
        inner: Sequence[BaseException] = getattr(current, "exceptions", ())
        if current is alone and len(inner) == 1:
            alone = inner[0]
        pending.extend(inner)
    return alone


def _interruptible(conn: Connection, work: Callable[[DevinClient], Awaitable[T]]) -> T:
    """work(client); SIGINT or SIGTERM ends it with KeyboardInterrupt (exit 130)."""

    async def main() -> list[T]:
        async with _client(conn) as client:
            return await _until_signal(lambda: work(client))

    done = _run(main)
    if not done:
        raise KeyboardInterrupt
    return done[0]


def watch_entries(
    writer: LedgerWriter,
    entries: Sequence[Entry],
    conn: Connection,
    settings: WatchSettings,
    progress: WatchProgress,
) -> WatchOutcome:
    """Watch `entries` until each has settled or the timeout passes (SPEC §9)."""
    targets, expected = _targets(writer, entries)

    async def work(client: DevinClient) -> WatchOutcome:
        return await watch(client, writer, targets, expected, settings, progress, conn.redact)

    return _interruptible(conn, work)


async def _refreshed(
    client: DevinClient,
    writer: LedgerWriter,
    targets: list[Target],
    expected: dict[str, int],
    redact: Redactor,
) -> None:
    """Learn the current status of the sessions first, so that the selection is exact."""
    await refresh(client, writer, targets, expected, RetryPolicy(), redact)


def cancel_entries(
    writer: LedgerWriter, entries: Sequence[Entry], conn: Connection
) -> cancel_mod.CancelOutcome:
    """Terminate the entries' sessions still active, and record it."""
    targets, expected = _targets(writer, entries)

    async def work(client: DevinClient) -> cancel_mod.CancelOutcome:
        await _refreshed(client, writer, targets, expected, conn.redact)
        return await cancel_mod.cancel(client, writer, targets, RetryPolicy(), conn.redact)

    return _interruptible(conn, work)


def message_entries(
    writer: LedgerWriter,
    entries: Sequence[Entry],
    conn: Connection,
    text: str,
    status: str | None,
) -> message_mod.MessageOutcome:
    """Send `text` once to each chosen session (`status`: only those now in it)."""
    targets, expected = _targets(writer, entries)

    async def work(client: DevinClient) -> message_mod.MessageOutcome:
        await _refreshed(client, writer, targets, expected, conn.redact)
        chosen = message_mod.chosen(targets, status)
        return await message_mod.send(client, writer, chosen, text, RetryPolicy(), conn.redact)

    return _interruptible(conn, work)


def wait_after_run(
    writer: LedgerWriter,
    entries: Sequence[Entry],
    conn: Connection,
    settings: WatchSettings,
    progress: WatchProgress,
    *,
    signals_seen: int = 0,
) -> WaitOutcome:
    """`run --wait`, still holding the run's ledger: watch its entries. `signals_seen`
    signals came during the dispatch; the first only stopped new starts, and the second
    (then or now) terminates the active sessions of the run's entries, as `cancel` does."""
    targets, expected = _targets(writer, entries)
    outcome = WaitOutcome(WatchOutcome(targets, timed_out=False, polls=0, requests=0))
    outcome.interrupted = signals_seen > 0

    async def main() -> WaitOutcome:
        async with _client(conn) as client:
            if signals_seen == 1:
                progress.log("watching what was created; again to terminate those sessions")
            if signals_seen < 2 and await _watch_until_second_signal(
                client, writer, expected, settings, progress, conn.redact, outcome, signals_seen
            ):
                return outcome
            outcome.interrupted = True
            active = len(cancel_mod.to_cancel(targets))
            progress.log(f"terminating the {active} active sessions (again to abort)")
            done = await _until_signal(
                lambda: cancel_mod.cancel(client, writer, targets, RetryPolicy(), conn.redact)
            )
            if not done:
                raise KeyboardInterrupt
            outcome.cancelled = done[0]
            return outcome

    return _run(main)


async def _watch_until_second_signal(
    client: DevinClient,
    writer: LedgerWriter,
    expected: dict[str, int],
    settings: WatchSettings,
    progress: WatchProgress,
    redact: Redactor,
    outcome: WaitOutcome,
    signals_seen: int,
) -> bool:
    """Watch; True when it ended by itself, False when a second signal cut it."""
    ended: list[bool] = []
    async with anyio.create_task_group() as tg:

        async def on_signals() -> None:
            seen = signals_seen
            with anyio.open_signal_receiver(*SIGNALS) as signals:
                async for signum in signals:
                    seen += 1
                    outcome.interrupted = True
                    name = signal.Signals(signum).name
                    if seen >= 2:
                        tg.cancel_scope.cancel()
                        return
                    progress.log(
                        f"{name}: starting nothing new; watching the running sessions until "
                        "they settle (again to terminate them; `launcher watch` resumes)"
                    )

        tg.start_soon(on_signals)
        w = outcome.watched
        await watch(client, writer, w.targets, expected, settings, progress, redact, w)
        ended.append(True)
        tg.cancel_scope.cancel()
    return bool(ended)
