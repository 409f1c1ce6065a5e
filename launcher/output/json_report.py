"""The JSON reporter: every command prints exactly one JSON object on stdout, on every exit.

Its top level is `{"format_version", "command", "ok", "exit_code", ...}` plus the command's
own keys (each command's shape is a JSON Schema in `schemas/output/`), with
`diagnostics` for invalid manifests and `error` (`{"kind", "message"}`) for anything that
stopped the command. ASCII only (`ensure_ascii`): no control, bidi or zero-width character
from outside can reach a terminal through it, escaped or not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from launcher.dispatch.ending import AtCapacity, CredentialsRejected, Finished, Interrupted, reason
from launcher.output.reporter import (
    Answer,
    Reporter,
    capacity_line,
    check_summary,
    plan_counts,
    run_counts,
    with_unsent,
)
from launcher.text import printable

if TYPE_CHECKING:
    from launcher.dispatch.results import RunResult
    from launcher.entry import Entry
    from launcher.follow.results import Results
    from launcher.ledger.summary import LedgerSummary
    from launcher.manifest import CheckResult
    from launcher.plan import PlanItem
    from launcher.project import Value

# The envelope's version: the minor part grows when keys are added, the major part when a
# key changes meaning or goes away (terraform's `format_version`).
FORMAT_VERSION = "1.0"

# The keys a command's document keeps on error too, so that it has one shape whatever
# happens: `results --format json` is always `count` and `entries`.
EMPTY_ON_ERROR: dict[str, dict[str, Any]] = {"results": {"count": 0, "entries": []}}

# `error.kind` by exit code: what a script branches on.
ERROR_KINDS = {1: "failed", 2: "usage", 3: "auth", 4: "locked", 130: "interrupted"}


def envelope(command: str, exit_code: int, body: Mapping[str, Any], ok: bool | None = None) -> str:
    """The one JSON document a command prints: the envelope, then the command's own keys."""
    doc = {
        "format_version": FORMAT_VERSION,
        "command": command,
        "ok": exit_code == 0 if ok is None else ok,
        "exit_code": exit_code,
        **body,
    }
    return layout(doc)


# json's C encoder: it serves only `indent=None`, and is two to three times faster than the
# Python one `indent=2` falls back to (for a 10,000-entry document: 40 ms, not 100 ms).
_COMPACT = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": "))


def _compact(value: Any) -> str:
    return _COMPACT.encode(value)


def layout(doc: Mapping[str, Any]) -> str:
    """`doc` as JSON laid out for both readers: a key per line, and a list one item per line
    (each item on one line, which `grep` and `jq -c` users read as they read JSONL)."""
    lines = []
    for key, value in doc.items():
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {_compact(item)}" for item in value)
            text = f"[\n{items}\n  ]"
        else:
            text = _compact(value)
        lines.append(f"  {_compact(key)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


class JsonReporter(Reporter):
    written = False  # one object per process, whatever happens after it

    def document(self, exit_code: int, body: Mapping[str, Any], ok: bool | None = None) -> None:
        if self.written:
            return
        self.written = True
        self.out.write(envelope(self.command, exit_code, body, ok))
        self.out.flush()

    def error(self, message: str, exit_code: int, kind: str | None = None) -> None:
        super().error(message, exit_code)  # the people reading the CI log see it too
        kind = kind or ERROR_KINDS.get(exit_code, "error")
        empty = EMPTY_ON_ERROR.get(self.command, {})
        self.document(exit_code, {**empty, "error": {"kind": kind, "message": message}})

    def answer(self, answer: Answer) -> None:
        for line in answer.problems:  # the CI log's readers see them too
            print(printable(line), file=self.err)
        body = dict(answer.body)
        if answer.exit_code:
            kind = ERROR_KINDS.get(answer.exit_code, "error")
            body["error"] = {"kind": kind, "message": answer.error or "failed"}
        self.document(answer.exit_code, body)

    def interrupted(self, message: str) -> None:
        super().interrupted(message)
        self.document(130, {"error": {"kind": "interrupted", "message": message}})

    def _valid(self, result: CheckResult) -> None:
        super()._valid(result)
        self.document(0, {"counts": _check_counts(result), "diagnostics": []})

    def invalid(self, result: CheckResult) -> None:
        print(check_summary(result), file=self.err)
        self.document(
            2,
            {
                "counts": _check_counts(result),
                "diagnostics": [d.as_json() for d in result.diagnostics],
                "error": {"kind": "invalid_manifests", "message": check_summary(result)},
            },
        )

    def plan(self, items: Sequence[PlanItem], *, show_requests: bool, exit_code: int) -> None:
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
                "attachments": [
                    {"file": a.path, "sha256": a.sha256, "bytes": a.size}
                    for a in item.entry.attachments
                ],
            }
            for item in items
        ]
        # --detailed-exitcode's 10 says "work to do", which is no failure: ok stays true.
        ok = exit_code in (0, 10)
        self.document(exit_code, {"counts": plan_counts(items), "entries": entries}, ok)

    def ledger_summary(
        self, summary: LedgerSummary, *, unsent: Sequence[Entry], exit_code: int
    ) -> None:
        never = [
            {
                "entry": e.entry_id,
                "name": e.name,
                "key": e.key,
                "content": e.content,
                "outcome": "pending",
                "attempts": 0,
                "never_sent": True,
            }
            for e in unsent
        ]
        counts = with_unsent(summary.counts, unsent)
        self.document(
            exit_code,
            {
                "ledger": summary.path,
                "counts": counts,
                "statuses": summary.statuses,
                "acus": summary.acus.as_json(),
                "entries": [e.as_json() for e in summary.entries] + never,
                "failures": [e.as_json() for e in summary.failures],
                "warnings": summary.warnings,
            },
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
        body: dict[str, Any] = {
            **run_counts(result),
            "ledger": result.ledger,
            "run_id": result.run_id,
            **_ending_keys(result, redact),
            "capacity_limit": result.capacity_limit,
            "entries": entries,
        }
        match result.ending:
            case CredentialsRejected(error=error):
                Reporter.error(self, redact(error), int(result.exit_code))
                body["error"] = {"kind": "auth", "message": redact(error)}
            case Interrupted():
                body["error"] = {"kind": "interrupted", "message": "interrupted by a signal"}
            case _:
                pass
        self.document(int(result.exit_code), body)

    def auth(self, facts: Mapping[str, Any], message: str, exit_code: int) -> None:
        if exit_code:
            Reporter.error(self, message, exit_code)
            kind = ERROR_KINDS.get(exit_code, "error")
            self.document(exit_code, {**facts, "error": {"kind": kind, "message": message}})
        else:
            self.document(exit_code, {**facts, "message": message})

    def results(self, results: Results) -> None:
        entries = results.documents()
        self.document(0, {"count": len(entries), "entries": entries})

    def config(self, values: Sequence[Value], project_file: str | None) -> None:
        self.document(0, {"project_file": project_file, "settings": [v.as_json() for v in values]})


def _ending_keys(result: RunResult, redact: Callable[[str], str]) -> dict[str, str | None]:
    """`stopped`, `auth_error` and `at_capacity`: the run's ending, under its own key."""
    keys: dict[str, str | None] = {"stopped": None, "auth_error": None, "at_capacity": None}
    match result.ending:
        case Finished():
            pass
        case CredentialsRejected(error=error):
            keys["auth_error"] = redact(error)
        case AtCapacity():
            keys["at_capacity"] = capacity_line(result)
        case other:
            keys["stopped"] = redact(reason(other))
    return keys


def _check_counts(result: CheckResult) -> dict[str, int]:
    return {
        "files": result.files,
        "entries": len(result.entries),
        "errors": len(result.diagnostics),
    }
