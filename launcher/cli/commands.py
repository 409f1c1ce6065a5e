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
    from launcher.output.reporter import REPORTER_BY_NAME

    return REPORTER_BY_NAME[args.format](sys.stdout, sys.stderr)


def validate(args: argparse.Namespace) -> int:
    from launcher import validate

    result = validate.check(args.paths)
    _reporter(args).check(result)
    return ExitCode.USAGE if result.diagnostics else ExitCode.OK


def plan(args: argparse.Namespace) -> int:
    from launcher import plan, validate
    from launcher.ledger.read import read_state

    reporter = _reporter(args)
    result = validate.check(args.paths, run_key=args.run_key)
    if result.diagnostics:
        reporter.check(result)
        return ExitCode.USAGE
    entries = plan.select_entries(result.entries, args.select)
    state = read_state(args.ledger)
    reporter.warn_untagged(entries)
    reporter.plan(plan.make_plan(entries, state), show_requests=args.show_requests)
    return ExitCode.OK


def run(args: argparse.Namespace) -> int:
    import anyio

    from launcher import validate
    from launcher.api.client import Redactor
    from launcher.api.redact import api_key_from
    from launcher.dispatch import run as dispatch
    from launcher.dispatch.settings import settings_from_args
    from launcher.ledger.events import new_run_id
    from launcher.ledger.writer import LedgerWriter
    from launcher.output.progress import RunProgress
    from launcher.plan import select_entries

    environ = dict(os.environ)
    settings = settings_from_args(args, environ)
    reporter = _reporter(args)
    checked = validate.check(args.paths, run_key=args.run_key)
    if checked.diagnostics:
        reporter.check(checked)
        return ExitCode.USAGE
    entries = select_entries(checked.entries, args.select)
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
        progress = RunProgress(len(entries), args.format, args.progress, redact)
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
    from launcher.ledger.summary import summarize

    summary = summarize(args.ledger_file)
    _reporter(args).ledger_summary(summary)
    return ExitCode.FAILED if summary.has_problems else ExitCode.OK


def sandbox(args: argparse.Namespace) -> int:
    from launcher.sandbox import server

    return server.serve_command(args)
