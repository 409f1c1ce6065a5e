"""Rendering only: diagnostics, plans, run outcomes and ledger summaries, as text or JSON.

Nothing here decides anything; every function takes a computed result and prints it
(results to stdout, logs and progress to stderr).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from launcher.entry import Entry
    from launcher.ledger import LedgerSummary
    from launcher.plan import PlanItem
    from launcher.runner import RunResult
    from launcher.validate import CheckResult

# --- validate and plan --------------------------------------------------------------


def print_check(result: CheckResult, fmt: str) -> None:
    """`launcher validate`: a `validate.CheckResult`; diagnostics on stdout, summary on stderr."""

    diagnostics = result.diagnostics
    if fmt == "json":
        sys.stdout.write(json.dumps([d.as_json() for d in diagnostics], indent=2) + "\n")
    else:
        sys.stdout.write("".join(d.format() + "\n" for d in diagnostics))
    sys.stdout.flush()
    if diagnostics:
        n, bad = len(diagnostics), len({d.file for d in diagnostics})
        errors = f"{n} error{'s' if n != 1 else ''}"
        files = f"{result.files} file{'s' if result.files != 1 else ''}"
        where = f"in {bad} of {files}" if bad <= result.files else f"({files} read)"
        print(f"{errors} {where}", file=sys.stderr)
    else:
        n = len(result.entries)
        files = f"{result.files} file{'s' if result.files != 1 else ''}"
        print(f"ok: {files}, {n} entr{'ies' if n != 1 else 'y'}", file=sys.stderr)


def print_plan(items: Sequence[PlanItem], fmt: str, *, show_requests: bool) -> None:
    """`launcher plan`: `plan.PlanItem`s, one per entry, and the counts."""

    if fmt == "json":
        doc = {
            "entries": [
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
        }
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
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
    sys.stdout.write("\n".join(lines) + "\n")


# --- ledger summary -----------------------------------------------------------------


def print_ledger_summary(summary: LedgerSummary, fmt: str) -> None:
    """`launcher ledger summary`: a `ledger.LedgerSummary` as counts, failures and path."""

    if fmt == "json":
        doc = {
            "ledger": summary.path,
            "counts": summary.counts,
            "statuses": summary.statuses,
            "entries": [e.as_json() for e in summary.entries],
            "failures": [e.as_json() for e in summary.failures],
            "warnings": summary.warnings,
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    for warning in summary.warnings:
        print(f"launcher: warning: {warning}", file=sys.stderr)
    print("  ".join(f"{k.replace('_', ' ')} {n}" for k, n in summary.counts.items()))
    if summary.statuses:
        # Status names come from the server: printable ASCII only, never a terminal escape.
        shown = (
            f"{''.join(c if c.isprintable() else '?' for c in k)} {n}"
            for k, n in summary.statuses.items()
        )
        print("sessions: " + "  ".join(shown))
    for e in summary.failures:
        label = "in doubt" if e.outcome == "in_doubt" else e.outcome
        status = f"(status {e.status}) " if e.status is not None else ""
        error = " ".join((e.error or "no error recorded").split())  # one line per entry
        print(f"  {label:<8} {e.entry}  {status}{error}")
    print(f"ledger: {summary.path}")


# --- run ----------------------------------------------------------------------------


def print_run(result: RunResult, fmt: str, *, redact: Callable[[str], str]) -> None:
    """The run's summary: counts, what failed and why, the ledger's path."""

    counts = {k: result.count(k) for k in ("created", "adopted", "skipped", "failed", "in_doubt")}
    counts["pending"] = result.count("pending")
    if fmt == "json":
        doc = {
            **counts,
            "ledger": result.ledger,
            "run_id": result.run_id,
            "stopped": result.stopped,
            "auth_error": result.auth_error,
            "at_capacity": result.capacity,
            "capacity_limit": result.capacity_limit,
            "entries": [
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
            ],
        }
        # Only the error texts carry words from outside; redacting the whole document
        # would rewrite numbers and paths that happen to contain a short secret.
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    err = sys.stderr
    for warning in result.warnings:
        print(f"launcher: warning: {warning}", file=err)
    if result.auth_error:
        print(
            f"launcher: error: the API rejected the credentials ({redact(result.auth_error)}); "
            "check the API key variable and run again",
            file=err,
        )
    elif result.capacity:
        print(f"launcher: {result.capacity}", file=err)
    elif result.stopped:
        print(f"launcher: stopped: {redact(result.stopped)}", file=err)
    problems = [r for r in result.results if r.outcome in ("failed", "in_doubt")]
    for r in problems:
        label = "in doubt" if r.outcome == "in_doubt" else "failed"
        print(f"{label:<8}  {r.entry.entry_id}  {redact(r.error or '')}")
    parts = [f"{counts[k]} {k.replace('_', ' ')}" for k in counts if counts[k] or k == "created"]
    print(", ".join(parts))
    pending = [r for r in result.results if r.outcome == "pending"]
    cut_off = sum(1 for r in pending if r.attempts)
    if result.capacity:
        pass  # the one line above says what waits and what to do
    elif len(pending) > cut_off:
        print(
            f"{len(pending) - cut_off} not attempted: the next run with the same ledger sends them"
        )
    if cut_off:
        print(
            f"{cut_off} cut off in flight: the next run waits them out and looks them up "
            "(or resends idempotent ones) before sending again"
        )
    print(f"ledger: {result.ledger}")


def warn_untagged(entries: Iterable[Entry]) -> None:
    """Entries with 50 tags carry no reconciliation tag: say so before anything is sent."""

    untagged = [e.entry_id for e in entries if e.reconcile_tag is None]
    if untagged:
        shown = ", ".join(untagged[:3]) + (
            f" and {len(untagged) - 3} more" if len(untagged) > 3 else ""
        )
        print(
            f"launcher: warning: {len(untagged)} entries already have 50 tags, so they carry no "
            f"reconciliation tag ({shown}); if their creation is ever in doubt they cannot be "
            "looked up and are reported in doubt. Drop a tag to make room.",
            file=sys.stderr,
        )
