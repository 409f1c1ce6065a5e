"""Results records: one per entry, in manifest order, joinable with the manifest by
`entry`, as values; the `--status` filter, the `--fields` choice and the flat columns of
a table or a spreadsheet (`matrix.VAR`, `output.PROP`). `launcher.output.results` writes
them as a table, JSON Lines, CSV or JSON."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from launcher.errors import UsageError
from launcher.follow.targets import Target

FIELDS = (
    "entry",
    "name",
    "key",
    "session_id",
    "url",
    "status",
    "pull_request_url",
    "pull_requests",
    "acus_consumed",
    "structured_output",
    "output_valid",
    "output_errors",
    "error",
    "matrix",
    "changed_since_sent",
)
MATRIX = "matrix."
OUTPUT = "output."
# A session's output is hostile: a thousand keys must not make a thousand columns.
MAX_OUTPUT_COLUMNS = 100
# A status a record may have besides the API's own (`working`, `blocked`, `finished`, …).
OWN_STATUSES = ("not_created", "cancelled")


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
        "pull_requests": list(target.pull_requests),
        "acus_consumed": target.acus_consumed,
        "structured_output": target.structured_output,
        "output_valid": target.output_valid,
        "output_errors": target.output_errors,
        "error": target.create_error,
        "matrix": dict(target.entry.matrix),
        "changed_since_sent": target.changed,
    }


def value_of(record: dict[str, Any], field: str) -> Any:
    """A record's value for a field or a flat column (`matrix.VAR`, `output.PROP`); None
    where the record has none."""
    if field.startswith(MATRIX):
        return record["matrix"].get(field[len(MATRIX) :])
    if field.startswith(OUTPUT):
        output = record["structured_output"]
        return output.get(field[len(OUTPUT) :]) if isinstance(output, dict) else None
    return record.get(field)


@dataclass(frozen=True)
class Results:
    """The records chosen, and the columns a table or a spreadsheet shows for them."""

    records: list[dict[str, Any]]
    columns: tuple[str, ...]  # every field asked for, in order
    chosen: bool  # --fields was given: JSON records keep only these fields
    dropped_columns: int = 0  # output properties past MAX_OUTPUT_COLUMNS

    def rows(self) -> list[dict[str, Any]]:
        return [{c: value_of(r, c) for c in self.columns} for r in self.records]

    def documents(self) -> list[dict[str, Any]]:
        """The records as JSON carries them: whole, or only the fields chosen."""
        return self.rows() if self.chosen else self.records


def flat_columns(targets: Sequence[Target]) -> tuple[list[str], list[str], int]:
    """`matrix.VAR` for every matrix variable and `output.PROP` for every top-level output
    property (the schema's first, in its order, then the outputs' own); how many output
    properties were left out past the cap."""
    variables: dict[str, None] = {}
    props: dict[str, None] = {}
    for t in targets:
        variables.update(dict.fromkeys(str(k) for k in t.entry.matrix))
        schema = t.schema
        if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
            props.update(dict.fromkeys(str(k) for k in schema["properties"]))
    for t in targets:
        if isinstance(t.structured_output, dict):
            props.update(dict.fromkeys(str(k) for k in t.structured_output))
    names = list(props)
    return (
        [MATRIX + v for v in variables],
        [OUTPUT + p for p in names[:MAX_OUTPUT_COLUMNS]],
        max(0, len(names) - MAX_OUTPUT_COLUMNS),
    )


def choose(
    targets: Sequence[Target], statuses: Iterable[str] | None, fields: Sequence[str] | None
) -> Results:
    """The records of `targets` whose status is one of `statuses` (all when None), with
    the `fields` asked for (every field and flat column when None); an unknown field is a
    UsageError that names the known ones."""
    wanted = set(statuses or ())
    records = [record_of(t) for t in targets]
    if wanted:
        records = [r for r in records if r["status"] in wanted]
    matrix, output, dropped = flat_columns(targets)
    if fields is None:
        base = [f for f in FIELDS if f != "matrix"]
        return Results(records, (*base, *matrix, *output), False, dropped)
    known = [*FIELDS, *matrix, *output]
    for name in fields:
        if name not in known and not name.startswith((MATRIX, OUTPUT)):
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"--fields: no field {name!r}; {hint}the fields are {', '.join(FIELDS)}, "
                "matrix.VAR for a matrix variable and output.PROP for an output property"
            )
    return Results(records, tuple(dict.fromkeys(fields)), True, dropped)
