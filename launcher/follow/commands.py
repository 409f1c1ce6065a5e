"""The follow-through commands (`watch`, `results`, `cancel`, `message`, `run --wait`):
manifests, ledger and API client put together, then handed to the modules beside this."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx

from launcher import ledger as ledger_mod
from launcher import report, validate
from launcher.client import DevinClient, Redactor
from launcher.entry import Entry
from launcher.errors import ExitCode, LauncherError, LedgerError, UsageError
from launcher.follow import cancel as cancel_mod
from launcher.follow import message as message_mod
from launcher.follow.poll import RetryPolicy
from launcher.follow.render import WatchReporter
from launcher.follow.results import write_results
from launcher.follow.status import printable
from launcher.follow.targets import Target, build_targets, expected_per_batch
from launcher.follow.watch import WatchSettings, refresh, watch
from launcher.plan import select_entries

T = TypeVar("T")
DEFAULT_BASE_URL = "https://api.devin.ai"
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Connection:
    base_url: str
    api_key: str
    redact: Redactor


def _entries(args: argparse.Namespace) -> list[Entry] | None:
    checked = validate.check(args.paths, run_key=args.run_key)
    if checked.diagnostics:
        report.print_check(checked, "text")
        return None
    return select_entries(checked.entries, args.select)


def _connection(args: argparse.Namespace, entries: Sequence[Entry]) -> Connection:
    from launcher.runner import entry_secret_values

    base_url = args.base_url or os.environ.get("DEVIN_BASE_URL") or DEFAULT_BASE_URL
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        url = httpx.URL("invalid:")
    if url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"base URL {base_url!r} is not an http(s) URL, like https://api.devin.ai")
    api_key = os.environ.get(args.api_key_env, "")
    if not api_key:
        raise UsageError(f"{args.api_key_env} (the API key) is not set; set it and run again")
    redact = Redactor([api_key, *entry_secret_values(entries, os.environ)])
    return Connection(base_url.rstrip("/"), api_key, redact)


async def _with_client(conn: Connection, work: Callable[[DevinClient], Awaitable[T]]) -> T:
    """`work` with an API client; SIGINT or SIGTERM stops it between ledger appends (each
    is durable once written) and ends the command with exit 130."""
    timeout = httpx.Timeout(REQUEST_TIMEOUT, connect=10.0)
    done: list[T] = []
    try:
        async with (
            httpx.AsyncClient(base_url=conn.base_url, timeout=timeout) as http,
            anyio.create_task_group() as tg,
        ):

            async def on_signal() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        tg.cancel_scope.cancel()
                        return

            tg.start_soon(on_signal)
            done.append(await work(DevinClient(http, conn.api_key, conn.redact)))
            tg.cancel_scope.cancel()
    except BaseException as exc:
        raise _unwrapped(exc) from None
    if not done:
        raise KeyboardInterrupt
    return done[0]


def _unwrapped(exc: BaseException) -> BaseException:
    """The launcher's own error inside (nested) exception groups, so the user gets its
    one-line message and exit code; else the group's only member; else `exc`."""
    pending, alone = [exc], exc
    while pending:
        current = pending.pop(0)
        if isinstance(current, LauncherError):
            return current
        inner: Sequence[BaseException] = getattr(current, "exceptions", ())
        if current is alone and len(inner) == 1:
            alone = inner[0]
        pending.extend(inner)
    return alone


def watch_settings(args: argparse.Namespace) -> WatchSettings:
    try:
        return WatchSettings(args.poll_interval, args.watch_timeout, args.blocked_ok)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def follow_targets(
    writer: ledger_mod.LedgerWriter,
    entries: Sequence[Entry],
    conn: Connection,
    settings: WatchSettings,
    fmt: str,
) -> int:
    """Watch `entries` with the ledger already held; the exit code (SPEC §9)."""
    state = ledger_mod.read_state(writer.path)  # fresh: a run may just have appended
    targets = build_targets(entries, state)
    reporter = WatchReporter(fmt, conn.redact)
    for warning in state.warnings:
        reporter.log(f"warning: {warning}")

    async def work(client: DevinClient) -> Any:
        expected = expected_per_batch(state)
        return await watch(client, writer, targets, expected, settings, reporter, conn.redact)

    outcome = anyio.run(_with_client, conn, work)
    reporter.summary(
        targets, settings.blocked_ok, outcome.timed_out, outcome.polls, outcome.requests
    )
    return ExitCode.OK if outcome.all_ended_well(settings.blocked_ok) else ExitCode.FAILED


def watch_command(args: argparse.Namespace) -> int:
    settings = watch_settings(args)
    entries = _entries(args)
    if entries is None:
        return ExitCode.USAGE
    conn = _connection(args, entries)
    _require_ledger(args.ledger)
    with ledger_mod.LedgerWriter.open(args.ledger, ledger_mod.new_run_id()) as writer:
        return follow_targets(writer, entries, conn, settings, args.format)


def results_command(args: argparse.Namespace) -> int:
    entries = _entries(args)
    if entries is None:
        return ExitCode.USAGE
    _require_ledger(args.ledger)
    targets = build_targets(entries, ledger_mod.read_state(args.ledger))
    write_results(targets, args.format, sys.stdout)
    return ExitCode.OK


def _require_ledger(path: str) -> None:
    if not Path(path).is_file():
        raise LedgerError(f"no ledger at {path}; pass the file that `launcher run --ledger` wrote")


def _held(
    args: argparse.Namespace,
) -> tuple[list[Entry], Connection, ledger_mod.LedgerWriter] | None:
    entries = _entries(args)
    if entries is None:
        return None
    conn = _connection(args, entries)
    _require_ledger(args.ledger)
    return entries, conn, ledger_mod.LedgerWriter.open(args.ledger, ledger_mod.new_run_id())


async def _refreshed(
    client: DevinClient, writer: ledger_mod.LedgerWriter, targets: list[Target], conn: Connection
) -> None:
    """Learn the current status of the sessions first, so the selection is exact."""
    expected = expected_per_batch(ledger_mod.read_state(writer.path))
    await refresh(client, writer, targets, expected, RetryPolicy(), conn.redact)


def cancel_command(args: argparse.Namespace) -> int:
    held = _held(args)
    if held is None:
        return ExitCode.USAGE
    entries, conn, writer = held
    with writer:
        targets = build_targets(entries, writer.state)

        async def work(client: DevinClient) -> cancel_mod.CancelOutcome:
            await _refreshed(client, writer, targets, conn)
            return await cancel_mod.cancel(client, writer, targets, RetryPolicy(), conn.redact)

        outcome = anyio.run(_with_client, conn, work)
    for target, error in outcome.failed:
        print(f"failed    {target.entry.entry_id}  {printable(error)}", file=sys.stderr)
    for target in outcome.terminated:
        print(f"cancelled {target.entry.entry_id}  {target.url or ''}")
    print(
        f"{len(outcome.terminated)} terminated, {len(outcome.already_exited)} had already "
        f"exited, {len(outcome.failed)} failed"
    )
    return ExitCode.FAILED if outcome.failed else ExitCode.OK


def _message_text(args: argparse.Namespace) -> str:
    if (args.text is None) == (args.file is None):
        raise UsageError("give the message as TEXT or with --file F (one of them)")
    if args.file is not None:
        try:
            with open(args.file, encoding="utf-8") as f:
                text = f.read(message_mod.MAX_TEXT_CHARS + 1)
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read --file {args.file}: {exc}") from None
    else:
        text = args.text
    if not text.strip():
        raise UsageError("the message is empty")
    if len(text) > message_mod.MAX_TEXT_CHARS:
        raise UsageError(f"the message is over {message_mod.MAX_TEXT_CHARS} characters")
    return str(text)


def message_command(args: argparse.Namespace) -> int:
    text = _message_text(args)
    held = _held(args)
    if held is None:
        return ExitCode.USAGE
    entries, conn, writer = held
    with writer:
        targets = build_targets(entries, writer.state)

        async def work(client: DevinClient) -> message_mod.MessageOutcome:
            await _refreshed(client, writer, targets, conn)
            chosen = message_mod.chosen(targets, args.status)
            return await message_mod.send(client, writer, chosen, text, RetryPolicy(), conn.redact)

        outcome = anyio.run(_with_client, conn, work)
    for target, error in outcome.failed:
        print(f"failed    {target.entry.entry_id}  {printable(error)}", file=sys.stderr)
    for target in outcome.sent:
        print(f"sent      {target.entry.entry_id}  {target.url or ''}")
    print(
        f"{len(outcome.sent)} sent, {len(outcome.already)} already had it, "
        f"{len(outcome.failed)} failed"
    )
    return ExitCode.FAILED if outcome.failed else ExitCode.OK


def wait_after_run(
    args: argparse.Namespace,
    writer: ledger_mod.LedgerWriter,
    entries: Sequence[Entry],
    base_url: str,
    api_key: str,
    redact: Redactor,
) -> int:
    """`run --wait`: watch the run's entries, still holding its ledger lock."""
    conn = Connection(base_url, api_key, redact)
    return follow_targets(writer, entries, conn, watch_settings(args), args.format)
