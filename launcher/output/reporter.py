"""Reporters: a computed result (diagnostics, plan, run, ledger summary) rendered as text for
people or as one JSON document for scripts. Picked once by name from `REPORTER_BY_NAME`;
each writes only to the streams it was given (results to `out`, notes to `err`)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

from launcher.dispatch.results import ENTRY_OUTCOMES, PROBLEMS

if TYPE_CHECKING:
    from launcher.dispatch.results import RunResult
    from launcher.entry import Entry
    from launcher.ledger.summary import LedgerSummary
    from launcher.manifest import CheckResult
    from launcher.plan import PlanItem


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


class Reporter(ABC):
    """What both formats share: the notes on `err`, which never go into a JSON document."""

    shows_urls = False  # whether created sessions' URLs go to `out` as they are created

    def __init__(self, out: IO[str], err: IO[str]) -> None:
        self.out = out
        self.err = err

    def check(self, result: CheckResult) -> None:
        """`launcher validate`: the diagnostics on `out`, a one-line summary on `err`."""
        self._diagnostics(result)
        self.out.flush()
        diagnostics = result.diagnostics
        files = _plural(result.files, "file", "files")
        if diagnostics:
            bad = len({d.file for d in diagnostics})
            where = f"in {bad} of {files}" if bad <= result.files else f"({files} read)"
            print(f"{_plural(len(diagnostics), 'error', 'errors')} {where}", file=self.err)
        else:
            print(f"ok: {files}, {_plural(len(result.entries), 'entry', 'entries')}", file=self.err)

    def warn_untagged(self, entries: Iterable[Entry]) -> None:
        """Entries with 50 tags carry no reconciliation tag: say so before anything is sent."""
        untagged = [e.entry_id for e in entries if e.reconcile_tag is None]
        if untagged:
            shown = ", ".join(untagged[:3]) + (
                f" and {len(untagged) - 3} more" if len(untagged) > 3 else ""
            )
            print(
                f"launcher: warning: {len(untagged)} entries already have 50 tags, so they carry "
                f"no reconciliation tag ({shown}); if their creation is ever in doubt they "
                "cannot be looked up and are reported in doubt. Drop a tag to make room.",
                file=self.err,
            )

    @abstractmethod
    def _diagnostics(self, result: CheckResult) -> None:
        """Render it on the reporter's streams."""

    @abstractmethod
    def plan(self, items: Sequence[PlanItem], *, show_requests: bool) -> None:
        """Render it on the reporter's streams."""

    @abstractmethod
    def ledger_summary(self, summary: LedgerSummary) -> None:
        """Render it on the reporter's streams."""

    @abstractmethod
    def run(self, result: RunResult, *, redact: Callable[[str], str]) -> None:
        """Render it on the reporter's streams."""


def _run_counts(result: RunResult) -> dict[str, int]:
    return {k: result.count(k) for k in ENTRY_OUTCOMES}


class TextReporter(Reporter):
    shows_urls = True

    def _diagnostics(self, result: CheckResult) -> None:
        self.out.write("".join(d.format() + "\n" for d in result.diagnostics))

    def plan(self, items: Sequence[PlanItem], *, show_requests: bool) -> None:
        width = min(max((len(i.entry.entry_id) for i in items), default=0), 72)
        lines: list[str] = []
        for item in items:
            line = f"{item.action:<6}  {item.entry.entry_id:<{width}}  {item.entry.key[:12]}"
            if item.session_id:
                line += f"  (session {item.session_id})"
            if item.changed:
                line += "  changed"
            lines.append(line)
            if show_requests:
                body = json.dumps(item.entry.masked_body(), indent=2, ensure_ascii=False)
                lines.extend("    " + b for b in body.splitlines())
        create = sum(1 for i in items if i.action == "create")
        changed = sum(1 for i in items if i.changed)
        counts = f"{create} to create, {len(items) - create} to skip"
        lines.append(counts + (f", {changed} changed" if changed else ""))
        self.out.write("\n".join(lines) + "\n")

    def ledger_summary(self, summary: LedgerSummary) -> None:
        for warning in summary.warnings:
            print(f"launcher: warning: {warning}", file=self.err)
        print(
            "  ".join(f"{k.replace('_', ' ')} {n}" for k, n in summary.counts.items()),
            file=self.out,
        )
        if summary.statuses:
            # Status names come from the server: printable only, never a terminal escape.
            shown = (
                f"{''.join(c if c.isprintable() else '?' for c in k)} {n}"
                for k, n in summary.statuses.items()
            )
            print("sessions: " + "  ".join(shown), file=self.out)
        for e in summary.failures:
            label = "in doubt" if e.outcome == "in_doubt" else e.outcome
            status = f"(status {e.status}) " if e.status is not None else ""
            error = " ".join((e.error or "no error recorded").split())  # one line per entry
            print(f"  {label:<8} {e.entry}  {status}{error}", file=self.out)
        print(f"ledger: {summary.path}", file=self.out)

    def run(self, result: RunResult, *, redact: Callable[[str], str]) -> None:
        out, err = self.out, self.err
        for warning in result.warnings:
            print(f"launcher: warning: {warning}", file=err)
        if result.auth_error:
            print(
                f"launcher: error: the API rejected the credentials ({redact(result.auth_error)});"
                " check the API key variable and run again",
                file=err,
            )
        elif result.capacity:
            print(f"launcher: {result.capacity}", file=err)
        elif result.stopped:
            print(f"launcher: stopped: {redact(result.stopped)}", file=err)
        for r in result.results:
            if r.outcome in PROBLEMS:
                label = "in doubt" if r.outcome == "in_doubt" else "failed"
                print(f"{label:<8}  {r.entry.entry_id}  {redact(r.error or '')}", file=out)
        counts = _run_counts(result)
        parts = [f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n or k == "created"]
        print(", ".join(parts), file=out)
        pending = [r for r in result.results if r.outcome == "pending"]
        cut_off = sum(1 for r in pending if r.attempts)
        if len(pending) > cut_off and not result.capacity:  # the capacity line says it
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
        print(f"ledger: {result.ledger}", file=out)


class JsonReporter(Reporter):
    def _document(self, doc: Any) -> None:
        self.out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")

    def _diagnostics(self, result: CheckResult) -> None:
        self.out.write(json.dumps([d.as_json() for d in result.diagnostics], indent=2) + "\n")

    def plan(self, items: Sequence[PlanItem], *, show_requests: bool) -> None:
        entries = [
            {
                "entry": item.entry.entry_id,
                "name": item.entry.name,
                "file": item.entry.file,
                "key": item.entry.key,
                "action": item.action,
                "changed": item.changed,
                "session_id": item.session_id,
                "url": item.url,
                "request": item.entry.masked_body(),
            }
            for item in items
        ]
        self._document({"entries": entries})

    def ledger_summary(self, summary: LedgerSummary) -> None:
        self._document(
            {
                "ledger": summary.path,
                "counts": summary.counts,
                "statuses": summary.statuses,
                "entries": [e.as_json() for e in summary.entries],
                "failures": [e.as_json() for e in summary.failures],
                "warnings": summary.warnings,
            }
        )

    def run(self, result: RunResult, *, redact: Callable[[str], str]) -> None:
        # Only the error texts carry words from outside; redacting the whole document
        # would rewrite numbers and paths that happen to contain a short secret.
        entries = [
            {
                "entry": r.entry.entry_id,
                "name": r.entry.name,
                "outcome": r.outcome,
                "session_id": r.session_id,
                "url": r.url,
                "error": redact(r.error) if r.error else None,
                "status": r.status,
                "reconciled": r.reconciled,
                "attempts": r.attempts,
            }
            for r in result.results
        ]
        self._document(
            {
                **_run_counts(result),
                "ledger": result.ledger,
                "run_id": result.run_id,
                "stopped": result.stopped,
                "auth_error": result.auth_error,
                "at_capacity": result.capacity,
                "capacity_limit": result.capacity_limit,
                "entries": entries,
            }
        )


REPORTER_BY_NAME: dict[str, type[Reporter]] = {"text": TextReporter, "json": JsonReporter}
