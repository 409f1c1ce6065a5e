"""The answers of the commands that change something and say what they did (`cancel`,
`message`, `ledger merge`, `ledger compact`): one `Answer` each, rendered by whichever
reporter `--format` picked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from launcher.output.reporter import Answer

if TYPE_CHECKING:
    from launcher.follow.cancel import CancelOutcome
    from launcher.follow.message import MessageOutcome
    from launcher.follow.targets import Target
    from launcher.ledger.compact import Compacted
    from launcher.ledger.merge import Merged


def _session(target: Target, **extra: Any) -> dict[str, Any]:
    return {
        "entry": target.entry.entry_id,
        "session_id": target.session_id,
        "url": target.url,
        **extra,
    }


def _failed(failed: Sequence[tuple[Target, str]]) -> list[dict[str, Any]]:
    return [_session(t, error=error) for t, error in failed]


def cancel_answer(outcome: CancelOutcome) -> Answer:
    counts = {
        "terminated": len(outcome.terminated),
        "already_exited": len(outcome.already_exited),
        "failed": len(outcome.failed),
    }
    lines = [f"cancelled {t.entry.entry_id}  {t.url or ''}" for t in outcome.terminated]
    lines.append(
        f"{counts['terminated']} terminated, {counts['already_exited']} had already exited, "
        f"{counts['failed']} failed"
    )
    return Answer(
        lines=lines,
        body={
            "counts": counts,
            "terminated": [_session(t) for t in outcome.terminated],
            "already_exited": [_session(t) for t in outcome.already_exited],
            "failed": _failed(outcome.failed),
        },
        exit_code=1 if outcome.failed else 0,
        problems=[f"failed    {t.entry.entry_id}  {error}" for t, error in outcome.failed],
        error=f"{counts['failed']} sessions could not be terminated",
    )


def message_answer(outcome: MessageOutcome) -> Answer:
    counts = {
        "sent": len(outcome.sent),
        "already": len(outcome.already),
        "failed": len(outcome.failed),
    }
    lines = [f"sent      {t.entry.entry_id}  {t.url or ''}" for t in outcome.sent]
    lines.append(
        f"{counts['sent']} sent, {counts['already']} already had it, {counts['failed']} failed"
    )
    return Answer(
        lines=lines,
        body={
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
