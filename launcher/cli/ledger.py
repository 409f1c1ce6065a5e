"""`launcher ledger summary | merge | compact`: glue between the parser, the ledger
package and the reporters."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from launcher.errors import ExitCode

if TYPE_CHECKING:
    from launcher.output.reporter import Reporter


def _reporter(args: argparse.Namespace) -> Reporter:
    """The reporter `main` chose for this command (it also answers the errors)."""
    reporter: Reporter = args.reporter
    return reporter


def ledger_summary(args: argparse.Namespace) -> int:
    from launcher.ledger.merge import summarize_ledgers
    from launcher.ledger.state import EntryState

    reporter = _reporter(args)
    if args.manifests:
        return _manifest_summary(args, reporter)
    summary = summarize_ledgers(args.ledger_files)
    problems = summary.has_problems or summary.counts[EntryState.PENDING]
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
    from launcher.ledger.state import EntryState

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
    problems = summary.has_problems or unsent or summary.counts[EntryState.PENDING]
    code = ExitCode.FAILED if problems else ExitCode.OK
    reporter.ledger_summary(summary, unsent=unsent, exit_code=int(code))
    return code


def ledger_batches(args: argparse.Namespace) -> int:
    from launcher.ledger.batches import ledger_batches as batches
    from launcher.output.answers import batches_answer

    found, warnings = batches(args.ledger_files)
    answer = batches_answer(found, warnings)
    _reporter(args).answer(answer)
    return answer.exit_code


def ledger_merge(args: argparse.Namespace) -> int:
    from launcher.ledger.merge import merge_into
    from launcher.output.answers import merge_answer

    merged = merge_into(args.ledger_files, args.output)
    _reporter(args).answer(merge_answer(args.ledger_files, args.output, merged))
    return ExitCode.OK


def ledger_compact(args: argparse.Namespace) -> int:
    from launcher.ledger.compact import compact
    from launcher.output.answers import compact_answer

    _reporter(args).answer(compact_answer(compact(args.ledger_file)))
    return ExitCode.OK
