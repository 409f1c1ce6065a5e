"""The follow-through commands put together (`watch`, `cancel`, `message`, `run --wait`): an
API client for the command's duration, over a ledger the caller holds, with SIGINT/SIGTERM
stopping the work between durable appends. Values out; `launcher.output` shows them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import anyio

from launcher.api.client import Redactor
from launcher.api.connection import Connection
from launcher.api.followclient import FollowClient
from launcher.api.outcomes import ApiError
from launcher.api.retry import RetryPolicy
from launcher.dispatch.run import RunContext
from launcher.entry import Entry
from launcher.errors import ApiUnavailable, LauncherError
from launcher.follow import cancel as cancel_mod
from launcher.follow import message as message_mod
from launcher.follow.log import Conversation, Subject, read_conversations
from launcher.follow.ports import Ledger, SlotsProgress, WatchProgress
from launcher.follow.rerun import RerunAsk, RerunChoice, choose
from launcher.follow.scheduled import ScheduledOutcome, ScheduledSettings, run_scheduled
from launcher.follow.signals import until_signal
from launcher.follow.targets import Target, expected_per_batch
from launcher.follow.watch import WatchOutcome, WatchSettings, refresh, watch
from launcher.ledger.read import read_state
from launcher.ledger.state import LedgerState

T = TypeVar("T")
REQUEST_TIMEOUT = 30.0


# Which targets a command acts on, from the ledger as folded (`launcher.follow.select`).
Pick = Callable[[LedgerState], list[Target]]


@dataclass(frozen=True)
class Held:
    """The ledger a follow-up command works on: its path, and where its lines go (the
    writer holding its lock, or `ports.Unrecorded` for a read-only watch or a preview)."""

    path: Path
    ledger: Ledger


def _targets(held: Held, pick: Pick) -> tuple[list[Target], dict[str, int]]:
    state = read_state(held.path)  # fresh: a run may just have appended
    return pick(state), dict(expected_per_batch(state))


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


def _interruptible(conn: Connection, work: Callable[[FollowClient], Awaitable[T]]) -> T:
    """work(client); SIGINT or SIGTERM ends it with KeyboardInterrupt (exit 130)."""

    async def main() -> list[T]:
        async with conn.client(REQUEST_TIMEOUT) as client:
            return await until_signal(lambda: work(client))

    done = _run(main)
    if not done:
        raise KeyboardInterrupt
    return done[0]


def watch_targets(
    held: Held,
    pick: Pick,
    conn: Connection,
    settings: WatchSettings,
    progress: WatchProgress,
) -> WatchOutcome:
    """Watch the picked targets until each has settled or the timeout passes."""
    targets, expected = _targets(held, pick)

    async def work(client: FollowClient) -> WatchOutcome:
        return await watch(client, held.ledger, targets, expected, settings, progress, conn.redact)

    return _interruptible(conn, work)


async def _refreshed(
    client: FollowClient,
    ledger: Ledger,
    targets: list[Target],
    expected: dict[str, int],
    redact: Redactor,
) -> None:
    """Learn the current status of the sessions first, so that the selection is exact."""
    await refresh(client, ledger, targets, expected, RetryPolicy(), redact)


def cancel_targets(
    held: Held, pick: Pick, conn: Connection, *, dry_run: bool = False
) -> cancel_mod.CancelOutcome:
    """Terminate the picked sessions still active, and record it; `dry_run`: only say
    which (their status read first, nothing sent or recorded)."""
    targets, expected = _targets(held, pick)

    async def work(client: FollowClient) -> cancel_mod.CancelOutcome:
        await _refreshed(client, held.ledger, targets, expected, conn.redact)
        if dry_run:
            return cancel_mod.CancelOutcome(would=cancel_mod.to_cancel(targets))
        return await cancel_mod.cancel(client, held.ledger, targets, RetryPolicy(), conn.redact)

    return _interruptible(conn, work)


def message_targets(
    held: Held,
    pick: Pick,
    conn: Connection,
    text: str,
    status: str | None,
    *,
    dry_run: bool = False,
) -> message_mod.MessageOutcome:
    """Send `text` once to each chosen session (`status`: only those now in it);
    `dry_run`: only say to which (nothing sent or recorded)."""
    targets, expected = _targets(held, pick)

    async def work(client: FollowClient) -> message_mod.MessageOutcome:
        await _refreshed(client, held.ledger, targets, expected, conn.redact)
        chosen = message_mod.chosen(targets, status)
        if dry_run:
            return message_mod.MessageOutcome(would=message_mod.unsent(chosen, text))
        return await message_mod.send(client, held.ledger, chosen, text, RetryPolicy(), conn.redact)

    return _interruptible(conn, work)


def rerun_choice(held: Held, pick: Pick, conn: Connection, ask: RerunAsk) -> RerunChoice:
    """The picked entries a rerun gives a new session, their sessions' statuses read
    first (and recorded, unless the ledger is only read)."""
    targets, expected = _targets(held, pick)

    async def work(client: FollowClient) -> None:
        # Every session's status now, settled ones too: one finished may have gone to sleep.
        policy = RetryPolicy()
        await refresh(client, held.ledger, targets, expected, policy, conn.redact, settled_too=True)

    _interruptible(conn, work)
    return choose(targets, ask)


def run_and_watch(
    ctx: RunContext[SlotsProgress],
    scheduled: ScheduledSettings,
    entries: Sequence[Entry],
    reporter: WatchProgress,
) -> ScheduledOutcome:
    """`run --wait` / `run --max-active N`, with the ledger held (docs/guides/follow-through.md)."""

    async def main() -> ScheduledOutcome:
        return await run_scheduled(ctx, scheduled, entries, reporter)

    return _run(main)


def read_logs(conn: Connection, subjects: Sequence[Subject]) -> list[Conversation]:
    """Each session's conversation (`launcher log`, `results --messages`)."""

    async def work(client: FollowClient) -> list[Conversation]:
        return await read_conversations(client, subjects, conn.redact)

    return _interruptible(conn, work)
