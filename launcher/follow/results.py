"""Results records (SPEC §9): one per entry, in manifest order, joinable with the
manifest by `entry`; written as JSON Lines, CSV or one JSON document."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from typing import IO, Any

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
)


def record_of(target: Target) -> dict[str, Any]:
    status = "cancelled" if target.cancelled else target.status
    return {
        "entry": target.entry.entry_id,
        "name": target.entry.name,
        "key": target.entry.key,
        "session_id": target.session_id,
        "url": target.url,
        "status": status if target.session_id else "not_created",
        "pull_request_url": target.pull_request_url,
        "structured_output": target.structured_output,
        "output_valid": target.output_valid,
        "output_errors": target.output_errors,
        "error": target.create_error,
    }


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    # A cell a spreadsheet would run as a formula (=, +, -, @) is quoted with a leading '.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_results(targets: Sequence[Target], fmt: str, out: IO[str]) -> None:
    records = [record_of(t) for t in targets]
    if fmt == "json":
        out.write(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FIELDS)
        for record in records:
            writer.writerow([_csv_cell(record[f]) for f in FIELDS])
    else:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()
