"""The follow-up commands (`watch`, `results`, `report`, `cancel`, `message`) and how
they pick the sessions they act on: parsed flags in, an exit code out. Glue only, as in
`commands`; modules are imported inside each command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from launcher.cli.commands import (
    _connection,
    _entries,
    _reporter,
    _run_progress,
    _watch_reporter,
    _watch_settings,
    send,
)
from launcher.cli.notify import notify
from launcher.errors import ExitCode, LedgerError, UsageError

if TYPE_CHECKING:
    from launcher.api.connection import Connection
    from launcher.entry import Entry
    from launcher.follow.report import BatchReport
    from launcher.follow.results import Results
    from launcher.follow.run import Held, Pick
    from launcher.follow.targets import Target
    from launcher.ledger.state import LedgerState


def _require_ledger(path: str) -> None:
    if not Path(path).is_file():
        raise LedgerError(f"no ledger at {path}; pass the file that `launcher run --ledger` wrote")


def _pick(args: argparse.Namespace) -> tuple[Pick, list[Entry]] | None:
    """What a follow-up command acts on: the manifests' entries matched to the ledger by
    entry id within the run key, or (no PATH) the sessions the ledger holds, `--batch`,
    `--run-key` and `--select` narrowing them. None once manifest errors are shown."""
    from launcher.follow.select import LedgerSelection, for_entries, for_ledger
    from launcher.shard import select_shard

    if args.paths:
        if args.batch is not None:
            raise UsageError(
                "--batch selects sessions from the ledger: give it without PATH, or give "
                "PATH (and --run-key) without it"
            )
        entries = _entries(args, _reporter(args))
        if entries is None:
            return None
        return (lambda state: for_entries(entries, state)), entries
    config = getattr(args, "config", {})
    run_key_given = "run-key" in config and config["run-key"].source != "default"
    selection = LedgerSelection(
        batch=args.batch,
        run_key=args.run_key if run_key_given else None,
        names=tuple(args.select) if args.select else None,
    )

    def pick(state: LedgerState) -> list[Target]:
        targets = select_shard(for_ledger(state, selection), args.shard)
        if not targets and selection != LedgerSelection():
            raise UsageError(
                f"the ledger holds no session that {selection.describe()} selects; "
                "`launcher ledger batches F` lists what it holds"
            )
        return targets

    return pick, []


def _held(
    args: argparse.Namespace, *, read_only: bool = False, follow_locked: bool = False
) -> tuple[Pick, Connection, Held] | None:
    """What the command acts on, the API connection and the ledger (watch, cancel,
    message), once the ledger's sessions are known to live in the API the command talks
    to. The ledger is held (locked) for the command's duration, unless `read_only` (a
    preview), or `follow_locked` and another process holds it (a second terminal's watch):
    then nothing is recorded, and the user is told so once."""
    from launcher.dispatch.place import check_place, claim
    from launcher.errors import LedgerLocked
    from launcher.follow.ports import Unrecorded
    from launcher.follow.run import Held
    from launcher.ledger.events import new_run_id
    from launcher.ledger.read import read_state
    from launcher.ledger.writer import LedgerWriter

    picked = _pick(args)
    if picked is None:
        return None
    pick, entries = picked
    conn = _connection(args, entries, os.environ)
    _require_ledger(args.ledger)
    target = conn.target
    writer = None
    if not read_only:
        try:
            writer = LedgerWriter.open(args.ledger, new_run_id())
        except LedgerLocked as exc:
            if not follow_locked:
                raise
            held_by = str(exc).split(";")[0]
            print(
                f"launcher: {held_by}: following read-only; this watch records nothing "
                "(the holder records what it sees)",
                file=sys.stderr,
            )
    if writer is None:
        note = check_place(read_state(args.ledger), target, args.ledger, args.command)
        held = Held(Path(args.ledger), Unrecorded())
    else:
        try:
            note = claim(writer, target, args.command)
        except BaseException:
            writer.close()
            raise
        held = Held(writer.path, writer)
    if note:
        print(f"launcher: warning: {note}", file=sys.stderr)
    return pick, conn, held


@contextmanager
def _released(held: Held) -> Iterator[Held]:
    """The ledger's lock released when the command ends (if it held one)."""
    from launcher.ledger.writer import LedgerWriter

    try:
        yield held
    finally:
        if isinstance(held.ledger, LedgerWriter):
            held.ledger.close()


def watch(args: argparse.Namespace) -> int:
    from launcher.follow.run import watch_targets
    from launcher.ledger.writer import LedgerWriter

    settings = _watch_settings(args)
    held = _held(args, follow_locked=True)
    if held is None:
        return ExitCode.USAGE
    pick, conn, ledger = held
    watcher = _watch_reporter(args, conn.redact)
    with _released(ledger):
        if isinstance(ledger.ledger, LedgerWriter):
            for warning in ledger.ledger.state.warnings:
                watcher.log(f"warning: {warning}")
        w = watch_targets(ledger, pick, conn, settings, watcher)
    if args.format != "json":
        from launcher.follow.budget import spent_line

        watcher.log(spent_line(w.targets, conn.generation))
    watcher.summary(w.targets, settings.blocked_ok, w.timed_out, w.polls, w.requests)
    code = ExitCode.OK if w.all_ended_well(settings.blocked_ok) else ExitCode.FAILED
    ending = (settings.blocked_ok, w.timed_out, int(code))
    notify(args.notify, "watch", w.targets, ending, str(ledger.path), conn.redact)
    return code


def _ledger_targets(args: argparse.Namespace) -> tuple[list[Target], LedgerState] | None:
    """What the reading commands (results, report) show: the picked entries or sessions
    joined with the ledger (several read as one). None once manifest errors are shown."""
    from launcher.ledger.read import read_state

    picked = _pick(args)
    if picked is None:
        return None
    pick, _ = picked
    ledgers = args.ledger if isinstance(args.ledger, list) else [args.ledger]
    for ledger in ledgers:
        _require_ledger(ledger)
    if len(ledgers) == 1:
        state = read_state(ledgers[0])
    else:
        from launcher.ledger.merge import merge_events

        state = merge_events(ledgers).state
    return pick(state), state


def results(args: argparse.Namespace) -> int:
    from launcher.follow.results import MAX_OUTPUT_COLUMNS, choose
    from launcher.output.results import RESULTS_WRITER_BY_NAME

    read = _ledger_targets(args)
    if read is None:
        return ExitCode.USAGE
    chosen = choose(read[0], args.status, args.fields)
    if chosen.dropped_columns:
        _reporter(args).note(
            f"launcher: {chosen.dropped_columns} output properties past the first "
            f"{MAX_OUTPUT_COLUMNS} have no column of their own (see structured_output)"
        )
    if args.messages:  # the API is asked only then: results otherwise reads the ledger alone
        chosen = _with_last_words(args, read[0], chosen)
    fmt = args.format or ("text" if sys.stdout.isatty() else "jsonl")
    if fmt in RESULTS_WRITER_BY_NAME:
        RESULTS_WRITER_BY_NAME[fmt](chosen, sys.stdout)
        sys.stdout.flush()
    else:
        _reporter(args).results(chosen)
    return ExitCode.OK


def _with_last_words(
    args: argparse.Namespace, targets: Sequence[Target], chosen: Results
) -> Results:
    """`chosen` with `last_devin_message` in each record (and as a column): the last
    message each session wrote, read through the API (the entries' secret values and the
    key redacted)."""
    from dataclasses import replace

    from launcher.follow.log import subjects_of_targets
    from launcher.follow.run import read_logs

    conn = _connection(args, [t.entry for t in targets], os.environ)
    logs = read_logs(conn, subjects_of_targets(targets)[0])
    last = {c.subject.session_id: c.last_from_devin for c in logs}
    for record in chosen.records:
        said = last.get(record["session_id"] or "")
        record["last_devin_message"] = said.text if said is not None else None
    if chosen.chosen:
        return chosen
    return replace(chosen, columns=(*chosen.columns, "last_devin_message"))


DEFAULT_REPORT = "launcher-report.html"


def report(args: argparse.Namespace) -> int:
    """`launcher report`: the batch as one HTML page, or its summary in Markdown."""
    from datetime import UTC, datetime

    import launcher
    from launcher.follow.report import build_report
    from launcher.output.report import render_html, render_markdown

    read = _ledger_targets(args)
    if read is None:
        return ExitCode.USAGE
    ledgers = args.ledger if isinstance(args.ledger, list) else [args.ledger]
    batch = build_report(*read, ledgers, datetime.now(UTC))
    if args.format == "json":
        return _report_json(args, batch)
    if args.format == "markdown":
        text = render_markdown(batch)
    else:
        text = render_html(batch, launcher.__version__)
    output = args.output
    if output is None:  # a page is no text for a terminal: it goes to a file there
        output = DEFAULT_REPORT if args.format == "html" and sys.stdout.isatty() else "-"
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return ExitCode.OK
    _write_report(output, text)
    well = batch.ended_well
    _reporter(args).note(
        f"launcher: report of {len(batch.rows)} entries ({well} ended well) in {output}"
    )
    return ExitCode.OK


def _report_json(args: argparse.Namespace, batch: BatchReport) -> int:
    """The report's document on stdout, as every command's JSON; `-o FILE` writes the
    same document to FILE too."""
    from launcher.output.answers import report_answer
    from launcher.output.json_report import envelope

    answer = report_answer(batch)
    if args.output not in (None, "-"):
        _write_report(args.output, envelope("report", 0, answer.body))
    _reporter(args).answer(answer)
    return ExitCode.OK


def _write_report(output: str, text: str) -> None:
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the report to {output}: {exc.strerror}") from None


def cancel(args: argparse.Namespace) -> int:
    from launcher.follow.run import cancel_targets
    from launcher.output.answers import cancel_answer

    held = _held(args, read_only=args.dry_run)
    if held is None:
        return ExitCode.USAGE
    pick, conn, ledger = held
    with _released(ledger):
        outcome = cancel_targets(ledger, pick, conn, dry_run=args.dry_run)
    answer = cancel_answer(outcome, dry_run=args.dry_run)
    _reporter(args).answer(answer)
    return answer.exit_code


def message(args: argparse.Namespace) -> int:
    from launcher.follow.message import message_text
    from launcher.follow.run import message_targets
    from launcher.output.answers import message_answer

    text = message_text(args.text, args.file)
    held = _held(args, read_only=args.dry_run)
    if held is None:
        return ExitCode.USAGE
    pick, conn, ledger = held
    with _released(ledger):
        outcome = message_targets(ledger, pick, conn, text, args.status, dry_run=args.dry_run)
    answer = message_answer(outcome, dry_run=args.dry_run)
    _reporter(args).answer(answer)
    return answer.exit_code


def rerun(args: argparse.Namespace) -> int:
    """`launcher rerun PATH... --status S`: one new session for each selected entry whose
    session ended so, sent as `run` sends (the same settings, dispatcher and ledger)."""
    from launcher.dispatch import run as dispatch
    from launcher.dispatch.settings import settings_from_args
    from launcher.follow.rerun import RerunAsk
    from launcher.follow.run import rerun_choice
    from launcher.ledger.writer import LedgerWriter
    from launcher.output.answers import rerun_answer

    if not args.status and not args.invalid_output:
        raise UsageError(
            "rerun needs --status S (repeatable) or --invalid-output: which sessions to replace"
        )
    ask = RerunAsk(frozenset(args.status or ()), args.invalid_output)
    reporter = _reporter(args)
    held = _held(args, read_only=args.dry_run)
    if held is None:
        return ExitCode.USAGE
    pick, conn, ledger = held
    with _released(ledger):
        choice = rerun_choice(ledger, pick, conn, ask)
        for target in choice.changed:
            reporter.note(
                f"launcher: {target.entry.entry_id}: changed since sent, not rerun; "
                "`launcher run` sends its new request"
            )
        if args.dry_run:
            answer = rerun_answer(choice, ask)
            reporter.answer(answer)
            return answer.exit_code
        assert isinstance(ledger.ledger, LedgerWriter)  # held, not read-only
        writer = ledger.ledger
        settings = settings_from_args(args, conn.base_url, conn.generation)
        entries = [t.entry for t in choice.targets]
        progress = _run_progress(args, entries, conn.redact)
        for target, why in choice.replace:
            progress.log(f"rerun {target.entry.entry_id}: session {target.session_id} {why}")
        for target in choice.resume:
            progress.log(f"rerun {target.entry.entry_id}: finishing the rerun an earlier one began")
        if entries:
            progress.start(settings.base_url, writer.path, settings.rate, settings.concurrency)
        else:
            progress.log(f"nothing to rerun: no selected entry's session is {ask.describe()}")
        ctx = dispatch.RunContext(settings, conn, writer, dict(os.environ), progress)
        return send(args, ctx, entries, choice.replaced)
