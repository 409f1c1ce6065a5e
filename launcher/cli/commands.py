"""One function per command: parsed flags in, an exit code out. Glue only.

Modules are imported inside each command so that `launcher validate` never pays for
httpx or uvicorn.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from launcher.cli.notify import notify
from launcher.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from launcher.api.address import Asked
    from launcher.api.client import Redactor
    from launcher.api.connection import Connection
    from launcher.dispatch.results import RunResult
    from launcher.dispatch.run import RunContext
    from launcher.entry import Entry
    from launcher.follow.scheduled import ScheduledSettings
    from launcher.follow.watch import WatchSettings
    from launcher.manifest import CheckResult
    from launcher.output.follow import WatchReporter
    from launcher.output.progress import RunProgress
    from launcher.output.reporter import Reporter


def _reporter(args: argparse.Namespace) -> Reporter:
    """The reporter `main` chose for this command (it also answers the errors)."""
    reporter: Reporter = args.reporter
    return reporter


def _check(args: argparse.Namespace, reporter: Reporter, run_key: str = "") -> CheckResult:
    """The manifests under the PATH arguments, checked; what was skipped said on stderr."""
    from launcher import manifest
    from launcher.api.address import generation_of

    # Checked for the API the command would speak, chosen as `run` chooses it; a command
    # that only reads the ledger (no API flags) takes the fields of either.
    api = None
    if hasattr(args, "api"):
        api = manifest.Speaking(*generation_of(_asked(args), os.environ))
    result = manifest.check(args.paths, run_key=run_key, api=api)
    for note in result.notes:
        reporter.note(f"launcher: {note}")
    return result


def validate(args: argparse.Namespace) -> int:
    reporter = _reporter(args)
    return reporter.check(_check(args, reporter))


def plan(args: argparse.Namespace) -> int:
    from launcher import plan
    from launcher.dispatch.environment import check_environment
    from launcher.ledger.read import read_state
    from launcher.shard import select_shard

    reporter = _reporter(args)
    result = _check(args, reporter, args.run_key)
    if result.diagnostics:
        return reporter.check(result)
    entries = select_shard(plan.select_entries(result.entries, args.select), args.shard)
    # What `run` would refuse, plan refuses the same way (exit 2): an unset variable.
    check_environment(entries, os.environ, None)
    state = read_state(args.ledger)
    reporter.warn_untagged(entries)
    items = plan.make_plan(entries, state)
    code = ExitCode.OK
    if args.detailed_exitcode and any(i.action == "create" for i in items):
        code = ExitCode.TO_CREATE
    reporter.plan(items, show_requests=args.show_requests, exit_code=int(code))
    if args.out:
        from launcher.cli.plans import write_plan

        write_plan(args, items, state, reporter)
    return code


def show(args: argparse.Namespace) -> int:
    """`launcher show FILE`: a plan file, shown the way `plan` shows a plan."""
    from launcher import planfile

    plan = planfile.read(args.plan_file)
    _reporter(args).plan(
        planfile.plan_items(plan), show_requests=args.show_requests, exit_code=ExitCode.OK
    )
    return ExitCode.OK


def _entries(args: argparse.Namespace, reporter: Reporter) -> list[Entry] | None:
    """The selected entries of the manifests, or None once their diagnostics are shown."""
    from launcher.plan import select_entries
    from launcher.shard import select_shard

    checked = _check(args, reporter, args.run_key)
    if checked.diagnostics:
        reporter.check(checked)
        return None
    return select_shard(select_entries(checked.entries, args.select), args.shard)


def _connect(
    args: argparse.Namespace,
    entries: Sequence[Entry],
    environ: Mapping[str, str],
    *,
    sending: bool,
) -> tuple[Connection, list[str]]:
    """The one connection of `run` and the follow commands, and warnings. The key must be
    set (and sound) unless an embedded sandbox answers, which gets a token of its own,
    never the user's key. Every secret's variable must be set too, even for commands that
    send no secret (`sending` is False): without its value, a secret a session echoes in
    its output or PR URL could not be recognised, and would be printed, kept in the ledger
    and exported."""
    from launcher.api.connection import resolve
    from launcher.dispatch.environment import check_environment, entry_secret_values

    sandbox = getattr(args, "sandbox", False)
    check_environment(entries, environ, None if sandbox else args.api_key_env, sending=sending)
    secret_values, short = entry_secret_values(entries, environ)
    conn, warnings = resolve(
        _asked(args), environ, secret_values, token=secrets.token_urlsafe(24) if sandbox else ""
    )
    return conn, [*warnings, *short]


def _asked(args: argparse.Namespace) -> Asked:
    """The connection flags as one value: the Namespace stops here."""
    from launcher.api.address import Asked

    config = getattr(args, "config", {})
    source = config["base-url"].where if "base-url" in config else ""
    return Asked(
        base_url=args.base_url,
        base_url_source=source or "--base-url",
        api_key_env=args.api_key_env,
        api=args.api,
        org=args.org,
        sandbox=getattr(args, "sandbox", False),
    )


def _connection(
    args: argparse.Namespace, entries: Sequence[Entry], environ: Mapping[str, str]
) -> Connection:
    conn, warnings = _connect(args, entries, environ, sending=False)
    for warning in warnings:
        print(f"launcher: warning: {warning}", file=sys.stderr)
    return conn


def _watch_settings(args: argparse.Namespace) -> WatchSettings:
    from launcher.follow.watch import WatchSettings

    return WatchSettings(args.poll_interval, args.watch_timeout, args.blocked_ok)


def _watch_reporter(args: argparse.Namespace, redact: Redactor) -> WatchReporter:
    from launcher.output.console import Console
    from launcher.output.follow import WATCH_REPORTER_BY_NAME

    console = Console(verbosity=_reporter(args).verbosity)
    return WATCH_REPORTER_BY_NAME[args.format](
        sys.stdout, sys.stderr, redact, console=console, heartbeat=args.heartbeat
    )


def _scheduled_settings(args: argparse.Namespace) -> ScheduledSettings:
    from launcher.follow.scheduled import ScheduledSettings
    from launcher.follow.slots import SlotSettings

    watch = _watch_settings(args)
    slots = SlotSettings(args.max_active, watch.poll_interval, args.probe_interval)
    return ScheduledSettings(slots, watch, args.terminate_settled, getattr(args, "max_acus", None))


def run(args: argparse.Namespace) -> int:
    from launcher.dispatch.place import claim, run_ledger
    from launcher.dispatch.results import all_skipped
    from launcher.dispatch.settings import settings_from_args
    from launcher.follow.budget import check_budgeted
    from launcher.ledger.events import new_run_id
    from launcher.ledger.writer import LedgerWriter
    from launcher.plan import nothing_to_send

    if args.dry_run:
        raise UsageError(
            "run has no --dry-run: `launcher plan PATH...` shows what run would do "
            "(--show-requests: the exact request bodies); it sends nothing"
        )
    if args.sandbox:
        from launcher.sandbox import extra

        extra.require()  # before anything is read or created
    environ = dict(os.environ)
    waits = args.wait or args.max_active is not None or args.max_acus is not None
    if args.notify and not waits:
        raise UsageError(
            "--notify sends the summary of a batch's end: add --wait (or --max-active N), "
            "or notify from `launcher watch`"
        )
    scheduled = _scheduled_settings(args) if waits else None
    reporter = _reporter(args)
    plan = None
    if args.plan is not None:
        from launcher.cli.plans import planned_args

        plan = planned_args(args)  # the PATHs, run key, selection and ledger of the plan
    elif not args.paths:
        raise UsageError("run needs PATH... (manifests), or --plan FILE (a reviewed plan)")
    entries = _entries(args, reporter)
    if entries is None:
        return ExitCode.USAGE
    if args.max_acus is not None:
        check_budgeted(entries)
    reporter.warn_untagged(entries)
    conn, warnings = _connect(args, entries, environ, sending=True)
    redact = conn.redact
    ledger = run_ledger(args.ledger, args.sandbox, given=args.config["ledger"].source == "flag")
    run_id = plan.run_id if plan is not None else new_run_id()
    with (
        LedgerWriter.open(ledger, run_id) as writer,
        _target(conn) as conn,
    ):
        if plan is not None:
            from launcher import planfile

            entries = planfile.check_before_run(plan, entries, writer.state, environ)
        settings = settings_from_args(args, conn.base_url, conn.generation)
        note = claim(writer, conn.target, "run")
        progress = _run_progress(args, entries, redact, board=waits)
        for warning in [*warnings, *([note] if note else [])]:
            progress.log(f"warning: {warning}", warn=True)
        quiet = nothing_to_send(entries, writer.state, str(writer.path))
        if quiet is not None:
            progress.log(quiet)  # a quiet night: one line, and no "dispatching"
            if scheduled is None:
                # Nothing to send: the dispatcher (and httpx) are never loaded.
                if reporter.verbosity > 0:  # -v still names each entry it skips
                    for entry in entries:
                        progress.log(f"skip {entry.entry_id}: created by an earlier run")
                progress.finish()
                if args.format != "json":
                    return ExitCode.OK
                return reported(args, all_skipped(entries, writer), redact)
        else:
            done = sum(1 for e in entries if writer.state.created(e.key))
            progress.start(
                settings.base_url, writer.path, settings.rate, settings.concurrency, done
            )
        from launcher.dispatch import run as dispatch

        ctx = dispatch.RunContext(settings, conn, writer, environ, progress)
        if scheduled is not None:
            # Started as slots free and watched in the same loop, the ledger held
            # throughout: cron cannot start the next batch meanwhile.
            return _run_and_watch(args, ctx, scheduled, entries)
        return send(args, ctx, entries)


def send(
    args: argparse.Namespace,
    ctx: RunContext[RunProgress],
    entries: Sequence[Entry],
    reruns: Mapping[str, str] | None = None,
) -> int:
    """`run` and `rerun`: every entry through the one dispatcher (and its signal policy),
    then what they say at the end, and their exit code."""
    import anyio

    from launcher.dispatch import run as dispatch

    result = anyio.run(dispatch.dispatch_all, ctx, entries, reruns)
    ctx.progress.finish()
    return reported(args, result, ctx.conn.redact)


def reported(args: argparse.Namespace, result: RunResult, redact: Redactor) -> int:
    """What a run says at the end, and its exit code."""
    from launcher.dispatch.ending import Unreachable

    match result.ending:
        case Unreachable(error=error):  # nothing was sent: one line, as any setting error
            raise UsageError(redact(error))
        case _:
            _reporter(args).run(result, redact=redact)
    return int(result.exit_code)


def _run_progress(
    args: argparse.Namespace, entries: Sequence[Entry], redact: Redactor, *, board: bool = False
) -> RunProgress:
    """What `run` and `rerun` show while they send (`board`: the sessions' table of a run
    that waits)."""
    from launcher.output.board import Board
    from launcher.output.console import Console
    from launcher.output.progress import RunProgress

    verbosity = _reporter(args).verbosity
    live = {"always": True, "never": False}.get(args.progress)
    if verbosity < 0 and live is None:
        live = False
    return RunProgress(
        len(entries),
        args.format,
        args.progress,
        redact,
        console=Console(verbosity=verbosity, live=live),
        board=Board(entries=[e.entry_id for e in entries]) if board else None,
    )


def _run_and_watch(
    args: argparse.Namespace,
    ctx: RunContext[RunProgress],
    scheduled: ScheduledSettings,
    entries: Sequence[Entry],
) -> int:
    from launcher.dispatch.ending import CredentialsRejected, Interrupted, Unreachable
    from launcher.follow.run import run_and_watch
    from launcher.output.answers import cancel_answer
    from launcher.output.follow import WATCH_REPORTER_BY_NAME, slots_line
    from launcher.text import printable

    # One console and one table for the run and its watch: the run's line above the table
    # on a terminal; off one, a line per create and per change.
    conn, writer, progress, redact = ctx.conn, ctx.writer, ctx.progress, ctx.conn.redact
    watcher = WATCH_REPORTER_BY_NAME[args.format](
        sys.stdout,
        sys.stderr,
        redact,
        console=progress.console,
        board=progress.board,
        heartbeat=args.heartbeat,
    )
    watcher.command = "run"
    outcome = run_and_watch(ctx, scheduled, entries, watcher)
    progress.finish()
    run = outcome.run
    run.warnings.extend(writer.state.warnings)
    match run.ending:
        case Unreachable() | CredentialsRejected():  # nothing was created
            return reported(args, run, redact)
        case _:
            pass
    line = slots_line(outcome.slots, scheduled.slots.max_active)
    if args.format != "json" and line is not None:
        watcher.log(line)
    if args.format != "json":
        from launcher.follow.budget import spent_line

        watcher.log(spent_line(outcome.targets, conn.generation))
    if outcome.budget_note:
        watcher.log(outcome.budget_note)
    blocked_ok = scheduled.watch.blocked_ok
    ended_well = all(t.verdict(blocked_ok, outcome.timed_out).ended_well for t in outcome.targets)
    code = ExitCode.OK if ended_well else ExitCode.FAILED
    if isinstance(run.ending, Interrupted):
        code = ExitCode.INTERRUPTED
    watcher.summary(outcome.targets, blocked_ok, outcome.timed_out, None, None, int(code))
    if outcome.cancelled is not None:  # stdout holds the summary (one JSON document)
        answer = cancel_answer(outcome.cancelled)
        for line in [*answer.problems, *answer.lines]:
            print(printable(line), file=sys.stderr)
    ending = (blocked_ok, outcome.timed_out, int(code))
    notify(args.notify, "run", outcome.targets, ending, str(writer.path), redact)
    return code


@contextmanager
def _target(conn: Connection) -> Iterator[Connection]:
    """The connection pointed at an embedded sandbox for the run's duration, if asked; the
    sandbox accepts the connection's own token alone (on v3, `cog_` then the sandbox's key)."""
    if not conn.target.sandbox:
        yield conn
        return
    from launcher.sandbox.config import SandboxConfig
    from launcher.sandbox.server import running_sandbox

    key = conn.api_key.removeprefix("cog_")  # v3 creates check the key inside the token
    with running_sandbox(SandboxConfig(port=0, api_key=key)) as handle:
        yield conn.at(handle.base_url)
