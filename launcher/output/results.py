"""`launcher results` rendered: a table for people, JSON Lines for scripts, CSV for
spreadsheets (one column per matrix variable and per top-level output property, nested
values as JSON, every cell a spreadsheet would run as a formula defused). The JSON document
goes through the JSON reporter's envelope."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from typing import IO, Any

from launcher.follow.results import Results, value_of
from launcher.text import printable

# The table's columns unless --fields says otherwise: what a person scans for.
TABLE_FIELDS = ("entry", "status", "pull_request_url", "output_valid", "url", "error")
MAX_CELL = 60


def cell_text(value: Any) -> str:
    """A value as one line of text: JSON for structures, empty for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def csv_cell(value: Any) -> str:
    text = cell_text(value)
    # A cell a spreadsheet would run as a formula (=, +, -, @, or a tab/CR before one)
    # gets a leading ', shown as text. Header cells (hostile output property names) too.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _table_cell(column: str, value: Any) -> str:
    if column == "output_valid":
        return {True: "valid", False: "invalid"}.get(value, "")
    text = printable(cell_text(value))
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def write_table(results: Results, out: IO[str]) -> None:
    """Aligned columns, one row per record, every cell escaped and clipped; the counts."""
    columns = results.columns if results.chosen else TABLE_FIELDS
    rows = [[_table_cell(c, value_of(r, c)) for c in columns] for r in results.records]
    header = [
        printable(c.replace("pull_request_url", "pr").replace("output_valid", "output"))
        for c in columns
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(columns))]
    for row in [header, *rows]:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    out.write(f"{len(results.records)} entr{'y' if len(results.records) == 1 else 'ies'}\n")


def write_jsonl(results: Results, out: IO[str]) -> None:
    for record in results.documents():
        out.write(json.dumps(record, ensure_ascii=True) + "\n")


def write_csv(results: Results, out: IO[str]) -> None:
    """CSV as the data is, for a file or a pipe; on a terminal every cell escaped as all
    other text is (a file name or an output with ESC in it must not act on the terminal)."""
    shown = printable if _is_terminal(out) else str
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([shown(csv_cell(c)) for c in results.columns])
    for row in results.rows():
        writer.writerow([shown(csv_cell(row[c])) for c in results.columns])


def _is_terminal(out: IO[str]) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream: not a terminal
        return False


# The formats that are not a reporter's (text and json are: they answer errors too).
RESULTS_WRITER_BY_NAME: dict[str, Callable[[Results, IO[str]], None]] = {
    "jsonl": write_jsonl,
    "csv": write_csv,
}
