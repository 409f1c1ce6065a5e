"""`launcher results` rendered: a table for people (drawn by rich on a terminal), JSON
Lines for scripts, CSV for spreadsheets (one column per matrix variable and per top-level
output property, nested values as JSON, every cell a spreadsheet would run as a formula
defused). The JSON document goes through the JSON reporter's envelope."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from launcher.follow.results import Results, value_of
from launcher.text import printable

# The table's columns unless --fields says otherwise: what a person scans for.
TABLE_FIELDS = ("entry", "status", "pull_request_url", "output_valid", "url", "error")
MAX_CELL = 60
SHORT_CELL = 16  # on a terminal, a column this narrow is never shrunk
GAP = 2  # spaces between two columns


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


def write_table(results: Results, out: IO[str], environ: Mapping[str, str] | None = None) -> None:
    """One row per record, every cell escaped and clipped, then the count: a rich table on
    a terminal (statuses in colour unless NO_COLOR or TERM=dumb), aligned plain text
    elsewhere (`--format text` into a file or a pipe)."""
    columns = results.columns if results.chosen else TABLE_FIELDS
    rows = [[_table_cell(c, value_of(r, c)) for c in columns] for r in results.records]
    header = [
        printable(c.replace("pull_request_url", "pr").replace("output_valid", "output"))
        for c in columns
    ]
    if _is_terminal(out):
        _rich_table(header, rows, columns, out, environ)
    else:
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(columns))]
        for row in [header, *rows]:
            line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
            out.write(line.rstrip() + "\n")
    out.write(f"{len(results.records)} entr{'y' if len(results.records) == 1 else 'ies'}\n")
    out.flush()


def _rich_table(
    header: list[str],
    rows: list[list[str]],
    columns: Sequence[str],
    out: IO[str],
    environ: Mapping[str, str] | None,
) -> None:
    # rich only here: jsonl and csv, the formats of scripts, start without it.
    from rich.table import Table
    from rich.text import Text

    from launcher.output.board import STYLE
    from launcher.output.console import in_colour, rich_console, terminal_size

    width = terminal_size(out)[0]
    natural = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    fitted = _fit(natural, width - GAP * (len(header) - 1))
    # No cell padding, and each cell clipped here: rich's padding and ellipsis per cell
    # cost twice the time on a batch of thousands (GAP spaces of the column's own width
    # part the columns instead).
    table = Table(box=None, pad_edge=False, padding=0, header_style="bold")
    last = len(header) - 1
    for i, (name, w) in enumerate(zip(header, fitted, strict=True)):
        table.add_column(_clip(name, w), no_wrap=True, width=w + (GAP if i < last else 0))
    status = columns.index("status") if "status" in columns else -1
    for row in rows:
        # Text, never markup: a `[bold]` in an output is shown as written.
        table.add_row(
            *(
                Text(_clip(c, w), style=STYLE.get(c, "") if i == status else "")
                for i, (c, w) in enumerate(zip(row, fitted, strict=True))
            )
        )
    out.flush()
    rich_console(out, color=in_colour(out, environ), width=width).print(table)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _fit(natural: list[int], room: int) -> list[int]:
    """Column widths that fit `room`: the widest column gives a character until they fit,
    so URLs and errors shrink first and a short column (status, output) never goes below
    SHORT_CELL."""
    widths = list(natural)
    while sum(widths) > room:
        widest = max(range(len(widths)), key=widths.__getitem__)
        if widths[widest] <= SHORT_CELL:
            break  # a terminal this narrow crops the line
        widths[widest] -= 1
    return widths


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
