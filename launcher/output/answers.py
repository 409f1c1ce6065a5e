"""The answers of the commands that change something and say what they did (`cancel`,
`message`, `ledger merge`, `ledger compact`), and of `report --format json`: one `Answer`
each, rendered by whichever reporter `--format` picked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from launcher.output.reporter import Answer
from launcher.text import printable

if TYPE_CHECKING:
    from launcher.follow.cancel import CancelOutcome
    from launcher.follow.message import MessageOutcome
    from launcher.follow.report import BatchReport
    from launcher.follow.rerun import RerunAsk, RerunChoice
    from launcher.follow.targets import Target
    from launcher.ledger.batches import Batch
    from launcher.ledger.compact import Compacted
    from launcher.ledger.merge import Merged


def _session(target: Target, **extra: Any) -> dict[str, Any]:
    return {
        "entry": target.entry.entry_id,
        "session_id": target.session_id,
        "url": target.url,
        "changed": target.changed,
        **extra,
    }


def _changed(target: Target) -> str:
    return "  (changed since sent)" if target.changed else ""


def _would(verb: str, done: str, targets: Sequence[Target]) -> Answer:
    """A --dry-run's answer: what would be done to each, and that nothing was."""
    lines = [
        f"would {verb}  {t.entry.entry_id}  {printable(t.status or '?', 40)}  {t.url or ''}"
        f"{_changed(t)}"
        for t in targets
    ]
    n = len(targets)
    lines.append(f"--dry-run: {n} session{'s' * (n != 1)} would be {done}; nothing sent")
    body = {"dry_run": True, "counts": {"would": n}, "would": [_session(t) for t in targets]}
    return Answer(lines=lines, body=body)


def _failed(failed: Sequence[tuple[Target, str]]) -> list[dict[str, Any]]:
    return [_session(t, error=error) for t, error in failed]


def rerun_answer(choice: RerunChoice, ask: RerunAsk) -> Answer:
    """`rerun --dry-run`: the entries that would get a new session, and why."""
    lines = [
        f"would rerun  {t.entry.entry_id}  session {t.session_id}  {printable(why, 40)}"
        for t, why in choice.replace
    ]
    lines += [
        f"would rerun  {t.entry.entry_id}  (finishing the rerun an earlier one began)"
        for t in choice.resume
    ]
    n = len(lines)
    if n == 0:
        lines.append(f"--dry-run: no selected entry's session is {ask.describe()}; nothing sent")
    else:
        lines.append(
            f"--dry-run: {n} entr{'ies' if n != 1 else 'y'} would get a new session; nothing sent"
        )
    would = [_session(t, why=why) for t, why in choice.replace]
    would += [_session(t, why="unfinished rerun") for t in choice.resume]
    body = {"dry_run": True, "counts": {"would": n}, "would": would}
    return Answer(lines=lines, body=body)


def cancel_answer(outcome: CancelOutcome, *, dry_run: bool = False) -> Answer:
    if dry_run:
        return _would("terminate", "terminated", outcome.would)
    counts = {
        "terminated": len(outcome.terminated),
        "already_exited": len(outcome.already_exited),
        "failed": len(outcome.failed),
    }
    lines = [
        f"cancelled {t.entry.entry_id}  {t.url or ''}{_changed(t)}" for t in outcome.terminated
    ]
    lines.append(
        f"{counts['terminated']} terminated, {counts['already_exited']} had already exited, "
        f"{counts['failed']} failed"
    )
    return Answer(
        lines=lines,
        body={
            "dry_run": False,
            "counts": counts,
            "terminated": [_session(t) for t in outcome.terminated],
            "already_exited": [_session(t) for t in outcome.already_exited],
            "failed": _failed(outcome.failed),
        },
        exit_code=1 if outcome.failed else 0,
        problems=[f"failed    {t.entry.entry_id}  {error}" for t, error in outcome.failed],
        error=f"{counts['failed']} sessions could not be terminated",
    )


def message_answer(outcome: MessageOutcome, *, dry_run: bool = False) -> Answer:
    if dry_run:
        return _would("message", "messaged", outcome.would)
    counts = {
        "sent": len(outcome.sent),
        "already": len(outcome.already),
        "failed": len(outcome.failed),
    }
    lines = [f"sent      {t.entry.entry_id}  {t.url or ''}{_changed(t)}" for t in outcome.sent]
    lines.append(
        f"{counts['sent']} sent, {counts['already']} already had it, {counts['failed']} failed"
    )
    return Answer(
        lines=lines,
        body={
            "dry_run": False,
            "counts": counts,
            "sent": [_session(t) for t in outcome.sent],
            "already": [_session(t) for t in outcome.already],
            "failed": _failed(outcome.failed),
        },
        exit_code=1 if outcome.failed else 0,
        problems=[f"failed    {t.entry.entry_id}  {error}" for t, error in outcome.failed],
        error=f"{counts['failed']} sessions did not get the message",
    )


def merge_answer(inputs: Sequence[str], output: str, merged: Merged) -> Answer:
    keys = len(merged.state.records())
    return Answer(
        lines=[
            f"merged {len(inputs)} ledgers: {len(merged.lines)} events of {keys} keys"
            f" ({merged.duplicates} found twice, kept once) into {output}"
        ],
        body={
            "inputs": list(inputs),
            "output": output,
            "events": len(merged.lines),
            "keys": keys,
            "duplicates": merged.duplicates,
            "warnings": list(merged.state.warnings),
        },
        problems=[f"launcher: warning: {w}" for w in merged.state.warnings],
    )


def compact_answer(done: Compacted) -> Answer:
    return Answer(
        lines=[
            f"compacted {done.path}: {done.keys:,} keys, {done.bytes_before:,} -> "
            f"{done.bytes_after:,} bytes"
        ],
        body={
            "ledger": done.path,
            "keys": done.keys,
            "bytes_before": done.bytes_before,
            "bytes_after": done.bytes_after,
            "warnings": list(done.warnings),
        },
        problems=[f"launcher: warning: {w}" for w in done.warnings],
    )


def _run_keys(batch: Batch) -> str:
    keys = ["?" if k is None else repr(k) for k in batch.run_keys]
    return f"run key{'s' * (len(keys) > 1)} {', '.join(keys)}"


def batches_answer(batches: Sequence[Batch], warnings: Sequence[str]) -> Answer:
    """`ledger batches`: one line per batch, oldest first (`?`: a run key an older
    launcher did not record)."""
    from launcher.api.target import record_label

    lines = []
    for b in batches:
        counts = ", ".join(
            f"{n} {outcome.replace('_', ' ')}"
            for outcome, n in b.counts.items()
            if n or outcome in ("created", "failed", "pending")
        )
        statuses = ", ".join(f"{n} {printable(s, 40)}" for s, n in b.statuses.items())
        api = record_label(b.api) if b.api is not None else "API not recorded"
        lines.append(
            f"{b.run_id}  {_run_keys(b)}  {api}  {b.started}  {b.entries} "
            f"entr{'y' if b.entries == 1 else 'ies'}: {counts}"
            + (f"  ({statuses})" if statuses else "")
            + (f"  {b.acus:g} ACUs" if b.acus is not None else "")
        )
    lines.append(f"{len(batches)} batch{'es' * (len(batches) != 1)}")
    return Answer(
        lines=lines,
        body={"batches": [b.as_json() for b in batches], "warnings": list(warnings)},
        problems=[f"launcher: warning: {w}" for w in warnings],
    )


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def report_answer(batch: BatchReport) -> Answer:
    """`launcher report --format json`: the report's counts and rows as one document, for
    a dashboard or a CI step that reads JSON rather than a page."""
    span = batch.span
    entries = [
        {
            "entry": r.entry,
            "name": r.name,
            "title": r.title,
            "status": r.status,
            "ended_well": r.ended_well,
            "reason": r.reason,
            "session_id": r.session_id,
            "session_url": r.session_url,
            "pull_request_url": r.pr_url,
            "output_valid": r.output_valid,
            "structured_output": r.output,
            "output_errors": r.output_errors,
            "acus_consumed": r.acus,
            "error": r.error,
            "matrix": dict(r.matrix),
            "created_at": _when(r.created_at),
            "settled_at": _when(r.settled_at),
            "duration_seconds": r.duration,
        }
        for r in batch.rows
    ]
    body = {
        "generated_at": _when(batch.generated_at),
        "ledgers": list(batch.ledgers),
        "count": len(entries),
        "counts": batch.counts,
        "ended_well": batch.ended_well,
        "acus_consumed": batch.acus,
        "span": {"from": _when(span[0]), "to": _when(span[1])} if span else None,
        "entries": entries,
    }
    return Answer(lines=[], body=body)
