"""One function per command: parsed flags in, an exit code out. Glue only.

Modules are imported inside each command so that `launcher validate` never pays for
httpx or uvicorn.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from launcher.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from launcher.dispatch.settings import RunSettings
    from launcher.output.reporter import Reporter


def _reporter(args: argparse.Namespace) -> Reporter:
    """The reporter `main` chose for this command (it also answers the errors)."""
    reporter: Reporter = args.reporter
    return reporter


def validate(args: argparse.Namespace) -> int:
    from launcher import manifest

    return _reporter(args).check(manifest.check(args.paths))


def plan(args: argparse.Namespace) -> int:
    from launcher import manifest, plan
    from launcher.ledger.read import read_state
    from launcher.shard import select_shard

    reporter = _reporter(args)
    result = manifest.check(args.paths, run_key=args.run_key)
    if result.diagnostics:
        return reporter.check(result)
    entries = select_shard(plan.select_entries(result.entries, args.select), args.shard)
    state = read_state(args.ledger)
    reporter.warn_untagged(entries)
    items = plan.make_plan(entries, state)
    code = ExitCode.OK
    if args.detailed_exitcode and any(i.action == "create" for i in items):
        code = ExitCode.TO_CREATE
    reporter.plan(items, show_requests=args.show_requests, exit_code=int(code))
    return code


def run(args: argparse.Namespace) -> int:
    import anyio

    from launcher import manifest
    from launcher.api.client import Redactor
    from launcher.api.redact import api_key_from
    from launcher.dispatch import run as dispatch
    from launcher.dispatch.settings import settings_from_args
    from launcher.ledger.events import new_run_id
    from launcher.ledger.writer import LedgerWriter
    from launcher.output.progress import RunProgress
    from launcher.plan import select_entries
    from launcher.shard import select_shard

    if args.dry_run:
        raise UsageError(
            "run has no --dry-run: `launcher plan PATH...` shows what run would do "
            "(--show-requests: the exact request bodies); it sends nothing"
        )
    environ = dict(os.environ)
    settings = settings_from_args(args, environ)
    reporter = _reporter(args)
    checked = manifest.check(args.paths, run_key=args.run_key)
    if checked.diagnostics:
        return reporter.check(checked)
    entries = select_shard(select_entries(checked.entries, args.select), args.shard)
    reporter.warn_untagged(entries)
    dispatch.check_environment(entries, environ, None if args.sandbox else settings.api_key_env)
    warnings: list[str] = []
    if args.sandbox:  # the sandbox gets a token of its own, never the user's key
        api_key = secrets.token_urlsafe(24)
    else:
        api_key, warnings = api_key_from(environ, settings.api_key_env)
    secret_values, short = dispatch.entry_secret_values(entries, environ)
    redact = Redactor([api_key, *secret_values])
    with (
        LedgerWriter.open(args.ledger, new_run_id()) as writer,
        _target(settings, args.sandbox, api_key) as settings,
    ):
        progress = RunProgress(
            len(entries), args.format, args.progress, redact, verbosity=reporter.verbosity
        )
        for warning in [*warnings, *short]:
            progress.log(f"warning: {warning}", warn=True)
        done = sum(1 for e in entries if writer.state.created(e.key))
        progress.start(settings.base_url, writer.path, settings.rate, settings.concurrency, done)
        result = anyio.run(
            dispatch.dispatch_all, settings, entries, writer, environ, api_key, redact, progress
        )
    progress.finish()
    if result.config_error:  # nothing was sent: one line, as for any other setting error
        raise UsageError(redact(result.config_error))
    reporter.run(result, redact=redact)
    return int(result.exit_code)


@contextmanager
def _target(settings: RunSettings, use_sandbox: bool, token: str) -> Iterator[RunSettings]:
    """The settings pointed at an embedded sandbox for the run's duration, if asked; the
    sandbox accepts `token` alone."""
    if not use_sandbox:
        yield settings
        return
    from launcher.sandbox.config import SandboxConfig
    from launcher.sandbox.server import running_sandbox

    with running_sandbox(SandboxConfig(port=0, api_key=token)) as handle:
        yield replace(settings, base_url=handle.base_url)


def ledger_summary(args: argparse.Namespace) -> int:
    from launcher.ledger.merge import summarize_ledgers

    reporter = _reporter(args)
    if args.manifests:
        return _manifest_summary(args, reporter)
    summary = summarize_ledgers(args.ledger_files)
    problems = summary.has_problems or summary.counts["pending"]
    code = ExitCode.FAILED if problems else ExitCode.OK
    reporter.ledger_summary(summary, unsent=[], exit_code=int(code))
    return code


def _manifest_summary(args: argparse.Namespace, reporter: Reporter) -> int:
    """The summary of exactly the manifests' entries under the run key: an entry the ledger
    never saw (a run stopped before sending it) counts as pending, so the alert fires."""
    from pathlib import Path

    from launcher import manifest, plan
    from launcher.ledger.merge import merge_events
    from launcher.ledger.read import read_state

    checked = manifest.check(args.manifests, run_key=args.run_key)
    if checked.diagnostics:
        return reporter.check(checked)
    ledgers = [Path(f) for f in args.ledger_files]
    for ledger in ledgers:
        if not ledger.exists():
            reporter.note(f"launcher: no ledger at {ledger}: none of its entries was ever sent")
    if len(ledgers) == 1:
        state = read_state(ledgers[0])
    else:
        state = merge_events([f for f in ledgers if f.exists()]).state
    label = ", ".join(map(str, ledgers))
    summary, unsent = plan.manifest_summary(checked.entries, state, label)
    problems = summary.has_problems or unsent or summary.counts["pending"]
    code = ExitCode.FAILED if problems else ExitCode.OK
    reporter.ledger_summary(summary, unsent=unsent, exit_code=int(code))
    return code


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"launcher: warning: {warning}", file=sys.stderr)


def ledger_merge(args: argparse.Namespace) -> int:
    from launcher.ledger.merge import merge_into

    merged = merge_into(args.ledger_files, args.output)
    _warn(merged.state.warnings)
    keys = len(merged.state.records())
    print(
        f"merged {len(args.ledger_files)} ledgers: {len(merged.lines)} events of {keys} keys"
        f" ({merged.duplicates} found twice, kept once) into {args.output}"
    )
    return ExitCode.OK


def ledger_compact(args: argparse.Namespace) -> int:
    from launcher.ledger.compact import compact

    done = compact(args.ledger_file)
    _warn(done.warnings)
    print(
        f"compacted {done.path}: {done.keys:,} keys, {done.bytes_before:,} -> "
        f"{done.bytes_after:,} bytes"
    )
    return ExitCode.OK


def completion(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    sys.stdout.write(shellcode(["launcher"], shell=args.shell))
    return ExitCode.OK


def sandbox(args: argparse.Namespace) -> int:
    from launcher.sandbox import server

    return server.serve_command(args)
