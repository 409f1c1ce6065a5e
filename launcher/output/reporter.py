"""Reporters: a computed result (diagnostics, plan, run, ledger summary) rendered as text for
people, here, or as one JSON object for scripts (`launcher.output.json_report`). Each writes
only to the streams it was given (results to `out`, notes to `err`); every text that came
from outside passes through `printable` first."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from launcher.dispatch.ending import AtCapacity, CredentialsRejected, Finished, reason
from launcher.ledger.state import EntryState
from launcher.text import printable

if TYPE_CHECKING:
    from launcher.dispatch.results import RunResult
    from launcher.entry import Entry
    from launcher.follow.results import Results
    from launcher.ledger.summary import LedgerSummary
    from launcher.manifest import CheckResult
    from launcher.plan import PlanItem
    from launcher.project import Value


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def plan_counts(items: Sequence[PlanItem]) -> dict[str, int]:
    create = sum(1 for i in items if i.action == "create")
    return {
        "create": create,
        "skip": len(items) - create,
        "changed": sum(1 for i in items if i.changed),
    }


def check_summary(result: CheckResult) -> str:
    """`4 errors in 2 of 5 files`, or `ok: 5 files, 15 entries`."""
    files = plural(result.files, "file", "files")
    if result.diagnostics:
        bad = len({d.file for d in result.diagnostics})
        where = f"in {bad} of {files}" if bad <= result.files else f"({files} read)"
        return f"{plural(len(result.diagnostics), 'error', 'errors')} {where}"
    return f"ok: {files}, {plural(len(result.entries), 'entry', 'entries')}"


@dataclass(frozen=True)
class Answer:
    """What a command did, in both formats: `lines` for people (stdout), `problems` for
    people too (stderr, in every format), `body` for scripts (the JSON document's own
    keys). A new command builds one and hands it to `Reporter.answer`."""

    lines: Sequence[str]
    body: Mapping[str, Any]
    exit_code: int = 0
    problems: Sequence[str] = field(default_factory=tuple)
    error: str | None = None  # the document's `error.message` when exit_code is not 0


class Reporter(ABC):
    """What both formats share: the notes on `err`, which never go into a JSON document."""

    shows_urls = False  # whether created sessions' URLs go to `out` as they are created

    def __init__(self, out: IO[str], err: IO[str], command: str = "", verbosity: int = 0):
        self.out = out
        self.err = err
        self.command = command
        self.verbosity = verbosity  # -1 quiet, 0 normal, 1+ verbose

    def note(self, message: str) -> None:
        """A notice on stderr, left out by --quiet."""
        if self.verbosity >= 0:
            print(printable(message), file=self.err)

    def interrupted(self, message: str) -> None:
        """A signal ended the command (exit 130): one line on stderr."""
        print(f"launcher: {printable(message)}", file=self.err)

    def error(self, message: str, exit_code: int, kind: str | None = None) -> None:
        """A failure that ends the command: one line (or a few) on stderr."""
        lines = [printable(line) for line in message.splitlines()] or [""]
        print("launcher: error: " + "\n".join(lines), file=self.err)

    def check(self, result: CheckResult) -> int:
        """`launcher validate`: the diagnostics on `out`, a one-line summary on `err`."""
        if result.diagnostics:
            self.invalid(result)
            return 2
        self._valid(result)
        return 0

    def _valid(self, result: CheckResult) -> None:
        self.note(check_summary(result))

    def warn_untagged(self, entries: Iterable[Entry]) -> None:
        """Entries with 50 tags carry no reconciliation tag: say so before anything is sent."""
        untagged = [e.entry_id for e in entries if e.reconcile_tag is None]
        if untagged:
            shown = ", ".join(untagged[:3]) + (
                f" and {len(untagged) - 3} more" if len(untagged) > 3 else ""
            )
            print(
                printable(
                    f"launcher: warning: {len(untagged)} entries already have 50 tags, so they "
                    f"carry no reconciliation tag ({shown}); if their creation is ever in doubt "
                    "they cannot be looked up and are reported in doubt. Drop a tag to make room."
                ),
                file=self.err,
            )

    def answer(self, answer: Answer) -> None:
        """A command's answer (cancel, message, ledger merge, ...): the problems on stderr,
        the lines on stdout."""
        for line in answer.problems:
            print(printable(line), file=self.err)
        if answer.lines:
            self.out.write("".join(printable(line) + "\n" for line in answer.lines))
            self.out.flush()

    @abstractmethod
    def invalid(self, result: CheckResult) -> None:
        """Invalid manifests (any command): the diagnostics, exit 2."""

    @abstractmethod
    def plan(self, items: Sequence[PlanItem], *, show_requests: bool, exit_code: int) -> None:
        """Render it on the reporter's streams."""

    @abstractmethod
    def ledger_summary(
        self, summary: LedgerSummary, *, unsent: Sequence[Entry], exit_code: int
    ) -> None:
        """Render it; `unsent`: entries of the given manifests the ledger never saw."""

    @abstractmethod
    def run(self, result: RunResult, *, redact: Callable[[str], str]) -> None:
        """Render it on the reporter's streams."""

    @abstractmethod
    def auth(self, facts: Mapping[str, Any], message: str, exit_code: int) -> None:
        """`launcher auth check`'s answer: what was asked of whom, and what came back."""

    @abstractmethod
    def results(self, results: Results) -> None:
        """`launcher results`: the records chosen."""

    @abstractmethod
    def config(self, values: Sequence[Value], project_file: str | None) -> None:
        """`launcher config`: each setting's value and where it came from."""


def run_counts(result: RunResult) -> dict[str, int]:
    return {k: result.count(k) for k in EntryState}


def with_unsent(counts: Mapping[EntryState, int], unsent: Sequence[Entry]) -> dict[str, int]:
    """A summary's counts, the entries a ledger never saw counted as pending."""
    pending = EntryState.PENDING
    return {str(k): n + (len(unsent) if k is pending else 0) for k, n in counts.items()}


def capacity_line(result: RunResult) -> str:
    """What a run without a scheduler says when the organisation was at its limit."""
    waiting = result.count(EntryState.PENDING)
    limit = result.capacity_limit
    of = f" of {limit}" if limit else ""
    entries = f"{waiting} entr{'y waits' if waiting == 1 else 'ies wait'}"
    return (
        f"the organisation is at its concurrent-session limit{of}: {entries}; run again with "
        "the same ledger once sessions end, and the run continues"
    )


def ending_line(result: RunResult, redact: Callable[[str], str]) -> str | None:
    """The line on stderr that says why a run stopped starting entries, if it did."""
    match result.ending:
        case Finished():
            return None
        case CredentialsRejected(error=error):
            return (
                f"launcher: error: the API rejected the credentials ({redact(error)}); check "
                "the API key variable and run again"
            )
        case AtCapacity():
            return f"launcher: {capacity_line(result)}"
        case other:
            return f"launcher: stopped: {redact(reason(other))}"


class TextReporter(Reporter):
    shows_urls = True

    def invalid(self, result: CheckResult) -> None:
        self.out.write("".join(printable(d.format()) + "\n" for d in result.diagnostics))
        self.out.flush()
        print(check_summary(result), file=self.err)

    def plan(self, items: Sequence[PlanItem], *, show_requests: bool, exit_code: int) -> None:
        width = min(max((len(i.entry.entry_id) for i in items), default=0), 72)
        lines: list[str] = []
        for item in items:
            line = f"{item.action:<6}  {item.entry.entry_id:<{width}}  {item.entry.key[:12]}"
            if item.session_id:
                line += f"  (session {item.session_id})"
            if item.changed:
                line += "  changed"
            lines.append(printable(line))
            for a in item.entry.attachments:  # uploaded once per content, when sent
                lines.append(
                    printable(f"    attachment {a.path} ({a.size:,} bytes, {a.sha256[:12]})")
                )
            if show_requests:
                body = json.dumps(item.entry.masked_body(), indent=2, ensure_ascii=False)
                lines.extend("    " + printable(b) for b in body.splitlines())
        counts = plan_counts(items)
        line = f"{counts['create']} to create, {counts['skip']} to skip"
        lines.append(line + (f", {counts['changed']} changed" if counts["changed"] else ""))
        self.out.write("\n".join(lines) + "\n")

    def ledger_summary(
        self, summary: LedgerSummary, *, unsent: Sequence[Entry], exit_code: int
    ) -> None:
        for warning in summary.warnings:
            print(f"launcher: warning: {printable(warning)}", file=self.err)
        counts = with_unsent(summary.counts, unsent)
        print("  ".join(f"{k.replace('_', ' ')} {n}" for k, n in counts.items()), file=self.out)
        if summary.statuses:
            shown = (f"{printable(k)} {n}" for k, n in summary.statuses.items())
            print("sessions: " + "  ".join(shown), file=self.out)
        if any(e.outcome.has_session for e in summary.entries):
            for line in summary.acus.lines:
                print(printable(line), file=self.out)
        for e in summary.failures:
            label = "in doubt" if e.outcome == "in_doubt" else e.outcome
            status = f"(status {e.status}) " if e.status is not None else ""
            error = " ".join((e.error or "no error recorded").split())  # one line per entry
            print(printable(f"  {label:<8} {e.entry}  {status}{error}"), file=self.out)
        for entry in unsent:
            print(printable(f"  pending  {entry.entry_id}  never sent"), file=self.out)
        print(f"ledger: {printable(summary.path)}", file=self.out)

    def run(self, result: RunResult, *, redact: Callable[[str], str]) -> None:
        out, err = self.out, self.err
        for warning in result.warnings:
            print(f"launcher: warning: {printable(warning)}", file=err)
        if line := ending_line(result, redact):
            print(printable(line), file=err)
        for r in result.results:
            if r.outcome.problem:
                label = r.outcome.label
                text = f"{label:<8}  {r.entry.entry_id}  {redact(r.error or '')}"
                print(printable(text), file=out)
        counts = run_counts(result)
        parts = [f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n or k == "created"]
        print(", ".join(parts), file=out)
        pending = [r for r in result.results if r.outcome == "pending"]
        cut_off = sum(1 for r in pending if r.attempts)
        # the capacity line says it
        if len(pending) > cut_off and not isinstance(result.ending, AtCapacity):
            print(
                f"{len(pending) - cut_off} not attempted: the next run with the same ledger "
                "sends them",
                file=out,
            )
        if cut_off:
            print(
                f"{cut_off} cut off in flight: the next run waits them out and looks them up "
                "(or resends idempotent ones) before sending again",
                file=out,
            )
        print(f"ledger: {printable(result.ledger)}", file=out)

    def auth(self, facts: Mapping[str, Any], message: str, exit_code: int) -> None:
        if exit_code == 0:
            print(printable(message), file=self.out)
        else:
            self.error(message, exit_code)

    def config(self, values: Sequence[Value], project_file: str | None) -> None:
        shown = [(v.key, "-" if v.value is None else str(v.value), v) for v in values]
        width = max((len(value) for _, value, _ in shown), default=0)
        width = min(width, 48)
        for key, value, v in shown:
            where = v.source if v.source in ("default", "file") else f"{v.source} {v.where}"
            if v.source == "file":
                where = f"file {v.where}"
            print(printable(f"{key:<14} {value:<{width}}  {where}"), file=self.out)
        print(printable(f"project file: {project_file or 'none found'}"), file=self.err)

    def results(self, results: Results) -> None:
        from launcher.output.results import write_table

        write_table(results, self.out)
