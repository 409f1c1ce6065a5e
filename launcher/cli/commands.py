"""One function per command: parsed flags in, an exit code out. Glue only.

Modules are imported inside each command so that `launcher validate` never pays for
httpx or uvicorn.
"""

from __future__ import annotations

import argparse
import os
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

    reporter = _reporter(args)
    result = manifest.check(args.paths, run_key=args.run_key)
    if result.diagnostics:
        return reporter.check(result)
    entries = plan.select_entries(result.entries, args.select)
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
    from launcher.dispatch import run as dispatch
    from launcher.dispatch.settings import settings_from_args
    from launcher.ledger.events import new_run_id
    from launcher.ledger.writer import LedgerWriter
    from launcher.output.progress import RunProgress
    from launcher.plan import select_entries

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
    entries = select_entries(checked.entries, args.select)
    reporter.warn_untagged(entries)
    dispatch.check_environment(entries, environ, None if args.sandbox else settings.api_key_env)
    api_key = environ.get(settings.api_key_env) or dispatch.SANDBOX_TOKEN
    redact = Redactor([api_key, *dispatch.entry_secret_values(entries, environ)])
    with (
        LedgerWriter.open(args.ledger, new_run_id()) as writer,
        _target(settings, args.sandbox) as settings,
    ):
        progress = RunProgress(
            len(entries), args.format, args.progress, redact, verbosity=reporter.verbosity
        )
        done = sum(1 for e in entries if writer.state.created(e.key))
        progress.start(settings.base_url, writer.path, settings.rate, settings.concurrency, done)
        result = anyio.run(
            dispatch.dispatch_all, settings, entries, writer, environ, api_key, redact, progress
        )
    progress.finish()
    reporter.run(result, redact=redact)
    return int(result.exit_code)


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

    reporter = _reporter(args)
    if args.manifests:
        return _manifest_summary(args, reporter)
    summary = summarize(args.ledger_file)
    problems = summary.has_problems or summary.counts["pending"]
    code = ExitCode.FAILED if problems else ExitCode.OK
    reporter.ledger_summary(summary, unsent=[], exit_code=int(code))
    return code


def _manifest_summary(args: argparse.Namespace, reporter: Reporter) -> int:
    """The summary of exactly the manifests' entries under the run key: an entry the ledger
    never saw (a run stopped before sending it) counts as pending, so the alert fires."""
    from pathlib import Path

    from launcher import manifest, plan
    from launcher.ledger.read import read_state

    checked = manifest.check(args.manifests, run_key=args.run_key)
    if checked.diagnostics:
        return reporter.check(checked)
    ledger = Path(args.ledger_file)
    if not ledger.exists():
        reporter.note(f"launcher: no ledger at {ledger}: none of these entries was ever sent")
    summary, unsent = plan.manifest_summary(checked.entries, read_state(ledger), str(ledger))
    problems = summary.has_problems or unsent or summary.counts["pending"]
    code = ExitCode.FAILED if problems else ExitCode.OK
    reporter.ledger_summary(summary, unsent=unsent, exit_code=int(code))
    return code


def sandbox(args: argparse.Namespace) -> int:
    from launcher.sandbox import server

    return server.serve_command(args)
