"""Results records (SPEC §9): one per entry, in manifest order, joinable with the
manifest by `entry`; as values (`launcher.output.follow` writes them as JSONL, CSV, JSON)."""

from __future__ import annotations

from typing import Any

from launcher.follow.targets import Target

FIELDS = (
    "entry",
    "name",
    "key",
    "session_id",
    "url",
    "status",
    "pull_request_url",
    "structured_output",
    "output_valid",
    "output_errors",
    "error",
    "changed_since_sent",
)


def record_of(target: Target) -> dict[str, Any]:
    status = "cancelled" if target.cancelled else target.status
    return {
        "entry": target.entry.entry_id,
        "name": target.entry.name,
        "key": target.key,
        "session_id": target.session_id,
        "url": target.url,
        "status": status if target.session_id else "not_created",
        "pull_request_url": target.pull_request_url,
        "structured_output": target.structured_output,
        "output_valid": target.output_valid,
        "output_errors": target.output_errors,
        "error": target.create_error,
        "changed_since_sent": target.changed,
    }
