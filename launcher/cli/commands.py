"""One function per command: parsed flags in, an exit code out. Glue only.

Modules are imported inside each command so that `launcher validate` never pays for
httpx or uvicorn.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from launcher.errors import ExitCode, LedgerError

if TYPE_CHECKING:
    from launcher.api.client import Redactor
    from launcher.dispatch.settings import RunSettings
    from launcher.entry import Entry
    from launcher.follow.run import Connection
    from launcher.follow.scheduled import ScheduledSettings
    from launcher.follow.watch import WatchSettings
    from launcher.ledger.writer import LedgerWriter
    from launcher.output.follow import WatchReporter
    from launcher.output.progress import RunProgress
    from launcher.output.reporter import Reporter


def _reporter(args: argparse.Namespace) -> Reporter:
    from launcher.output.reporter import REPORTER_BY_NAME

    return REPORTER_BY_NAME[args.format](sys.stdout, sys.stderr)


def validate(args: argparse.Namespace) -> int:
    from launcher import manifest

    result = manifest.check(args.paths)
    _reporter(args).check(result)
    return ExitCode.USAGE if result.diagnostics else ExitCode.OK


def plan(args: argparse.Namespace) -> int:
    from launcher import manifest, plan
    from launcher.ledger.read import read_state

    reporter = _reporter(args)
    result = manifest.check(args.paths, run_key=args.run_key)
    if result.diagnostics:
        reporter.check(result)
        return ExitCode.USAGE
    entries = plan.select_entries(result.entries, args.select)
    state = read_state(args.ledger)
    reporter.warn_untagged(entries)
    reporter.plan(plan.make_plan(entries, state), show_requests=args.show_requests)
    return ExitCode.OK


def _entries(args: argparse.Namespace, reporter: Reporter) -> list[Entry] | None:
    """The selected entries of the manifests, or None once their diagnostics are shown."""
    from launcher import manifest
    from launcher.plan import select_entries

    checked = manifest.check(args.paths, run_key=args.run_key)
    if checked.diagnostics:
        reporter.check(checked)
        return None
    return select_entries(checked.entries, args.select)


def _api_access(
    args: argparse.Namespace,
    entries: Sequence[Entry],
    environ: Mapping[str, str],
    *,
    sending: bool,
) -> tuple[str, Redactor]:
    """The API key and a redactor of it and of every secret value: one check for `run` and
    the follow commands. The key must be set unless an embedded sandbox answers; `sending`
    (run) needs every secret's variable too."""
    from launcher.api.client import Redactor
    from launcher.dispatch import run as dispatch

    key_env = None if getattr(args, "sandbox", False) else args.api_key_env
    dispatch.check_environment(entries if sending else (), environ, key_env)
    api_key = environ.get(args.api_key_env) or dispatch.SANDBOX_TOKEN
    return api_key, Redactor([api_key, *dispatch.entry_secret_values(entries, environ)])


def _connection(
    args: argparse.Namespace, entries: Sequence[Entry], environ: Mapping[str, str]
) -> Connection:
    from launcher.dispatch.settings import base_url_from
    from launcher.follow.run import Connection

    api_key, redact = _api_access(args, entries, environ, sending=False)
    return Connection(base_url_from(args.base_url, environ), api_key, redact)


def _watch_settings(args: argparse.Namespace) -> WatchSettings:
    from launcher.follow.watch import WatchSettings

    return WatchSettings(args.poll_interval, args.watch_timeout, args.blocked_ok)


def _watch_reporter(args: argparse.Namespace, redact: Redactor) -> WatchReporter:
    from launcher.output.follow import WATCH_REPORTER_BY_NAME

    return WATCH_REPORTER_BY_NAME[args.format](sys.stdout, sys.stderr, redact)


def _scheduled_settings(args: argparse.Namespace) -> ScheduledSettings:
    from launcher.follow.scheduled import ScheduledSettings
    from launcher.follow.slots import SlotSettings

    watch = _watch_settings(args)
    slots = SlotSettings(args.max_active, watch.poll_interval, args.probe_interval)
    return ScheduledSettings(slots, watch, args.terminate_settled)


def run(args: argparse.Namespace) -> int:
    import anyio

    from launcher.dispatch import run as dispatch
    from launcher.dispatch.settings import settings_from_args
    from launcher.ledger.events import new_run_id
    from launcher.ledger.writer import LedgerWriter
    from launcher.output.progress import RunProgress

    environ = dict(os.environ)
    settings = settings_from_args(args, environ)
    waits = args.wait or args.max_active is not None
    scheduled = _scheduled_settings(args) if waits else None
    reporter = _reporter(args)
    entries = _entries(args, reporter)
    if entries is None:
        return ExitCode.USAGE
    reporter.warn_untagged(entries)
    api_key, redact = _api_access(args, entries, environ, sending=True)
    with (
        LedgerWriter.open(args.ledger, new_run_id()) as writer,
        _target(settings, args.sandbox) as settings,
    ):
        progress = RunProgress(len(entries), args.format, args.progress, redact)
        done = sum(1 for e in entries if writer.state.created(e.key))
        progress.start(settings.base_url, writer.path, settings.rate, settings.concurrency, done)
        if scheduled is not None:
            # Started as slots free and watched in the same loop, the ledger held
            # throughout: cron cannot start the next batch meanwhile (SPEC §9).
            return _run_and_watch(
                args, settings, scheduled, entries, writer, api_key, redact, progress
            )
        result = anyio.run(
            dispatch.dispatch_all, settings, entries, writer, environ, api_key, redact, progress
        )
    progress.finish()
    reporter.run(result, redact=redact)
    return int(result.exit_code)


def _run_and_watch(
    args: argparse.Namespace,
    settings: RunSettings,
    scheduled: ScheduledSettings,
    entries: Sequence[Entry],
    writer: LedgerWriter,
    api_key: str,
    redact: Redactor,
    progress: RunProgress,
) -> int:
    from launcher.follow.run import run_and_watch
    from launcher.output.follow import WATCH_REPORTER_BY_NAME, cancel_report, slots_line

    # The run's progress line is the live line: the watch adds plain lines only.
    watcher = WATCH_REPORTER_BY_NAME[args.format](sys.stdout, sys.stderr, redact, live=False)
    outcome = run_and_watch(
        settings, scheduled, entries, writer, os.environ, api_key, redact, progress, watcher
    )
    progress.finish()
    run = outcome.run
    run.warnings.extend(writer.state.warnings)
    if run.auth_error:
        _reporter(args).run(run, redact=redact)
        return int(run.exit_code)
    if args.format != "json":
        watcher.log(slots_line(outcome.slots, scheduled.slots.max_active))
    blocked_ok = scheduled.watch.blocked_ok
    watcher.summary(outcome.targets, blocked_ok, outcome.timed_out, None, None)
    if outcome.cancelled is not None:
        cancel_report(outcome.cancelled, sys.stderr, sys.stderr)
    if run.interrupted:
        return ExitCode.INTERRUPTED
    ended_well = all(t.verdict(blocked_ok, outcome.timed_out).ended_well for t in outcome.targets)
    return ExitCode.OK if ended_well else ExitCode.FAILED


def _require_ledger(path: str) -> None:
    if not Path(path).is_file():
        raise LedgerError(f"no ledger at {path}; pass the file that `launcher run --ledger` wrote")


def _held(args: argparse.Namespace) -> tuple[list[Entry], Connection, LedgerWriter] | None:
    """The entries, the API connection and the ledger, held (for watch, cancel, message)."""
    from launcher.ledger.events import new_run_id
    from launcher.ledger.writer import LedgerWriter

    entries = _entries(args, _text_reporter())
    if entries is None:
        return None
    conn = _connection(args, entries, os.environ)
    _require_ledger(args.ledger)
    return entries, conn, LedgerWriter.open(args.ledger, new_run_id())


def _text_reporter() -> Reporter:
    from launcher.output.reporter import REPORTER_BY_NAME

    return REPORTER_BY_NAME["text"](sys.stdout, sys.stderr)


def watch(args: argparse.Namespace) -> int:
    from launcher.follow.run import watch_entries

    settings = _watch_settings(args)
    held = _held(args)
    if held is None:
        return ExitCode.USAGE
    entries, conn, writer = held
    watcher = _watch_reporter(args, conn.redact)
    with writer:
        for warning in writer.state.warnings:
            watcher.log(f"warning: {warning}")
        w = watch_entries(writer, entries, conn, settings, watcher)
    watcher.summary(w.targets, settings.blocked_ok, w.timed_out, w.polls, w.requests)
    return ExitCode.OK if w.all_ended_well(settings.blocked_ok) else ExitCode.FAILED


def results(args: argparse.Namespace) -> int:
    from launcher.follow.targets import build_targets
    from launcher.ledger.read import read_state
    from launcher.output.follow import write_results

    entries = _entries(args, _text_reporter())
    if entries is None:
        return ExitCode.USAGE
    _require_ledger(args.ledger)
    write_results(build_targets(entries, read_state(args.ledger)), args.format, sys.stdout)
    return ExitCode.OK


def cancel(args: argparse.Namespace) -> int:
    from launcher.follow.run import cancel_entries
    from launcher.output.follow import cancel_report

    held = _held(args)
    if held is None:
        return ExitCode.USAGE
    entries, conn, writer = held
    with writer:
        outcome = cancel_entries(writer, entries, conn)
    cancel_report(outcome, sys.stdout, sys.stderr)
    return ExitCode.FAILED if outcome.failed else ExitCode.OK


def message(args: argparse.Namespace) -> int:
    from launcher.follow.message import message_text
    from launcher.follow.run import message_entries
    from launcher.output.follow import message_report

    text = message_text(args.text, args.file)
    held = _held(args)
    if held is None:
        return ExitCode.USAGE
    entries, conn, writer = held
    with writer:
        outcome = message_entries(writer, entries, conn, text, args.status)
    message_report(outcome, sys.stdout, sys.stderr)
    return ExitCode.FAILED if outcome.failed else ExitCode.OK


@contextmanager
def _target(settings: RunSettings, use_sandbox: bool) -> Iterator[RunSettings]:
    """The settings pointed at an embedded sandbox for the run's duration, if asked."""
    if not use_sandbox:
        yield settings
        return
    from launcher.sandbox.config import SandboxConfig
    from launcher.sandbox.server import running_sandbox

    with running_sandbox(SandboxConfig(port=0, api_key=None)) as handle:
        yield replace(settings, base_url=handle.base_url)


def ledger_summary(args: argparse.Namespace) -> int:
    from launcher.ledger.summary import summarize

    summary = summarize(args.ledger_file)
    _reporter(args).ledger_summary(summary)
    return ExitCode.FAILED if summary.has_problems else ExitCode.OK


def sandbox(args: argparse.Namespace) -> int:
    from launcher.sandbox import server

    return server.serve_command(args)
