"""Matrix rows from a data file (`matrix: {from: targets.csv}`): a CSV file with a header,
JSON Lines, a JSON list or a YAML list of objects → one row of variable values per
combination, each with the line (and, in a CSV file, the column) a problem is shown at.

Every row gives the same variables; a value is a string or an integer. Reading never
raises for bad content: what is wrong becomes a `DataProblem` at its line.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from launcher.manifest.document import quote_hint, visible
from launcher.manifest.loader import load

MAX_DATA_BYTES = 4 * 1024 * 1024  # per data file, as for a manifest
MAX_ROWS = 50_000  # as many as a matrix may make
DATA_SUFFIXES = (".csv", ".jsonl", ".json", ".yaml", ".yml")
VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_CANONICAL_INT = re.compile(r"(0|-?[1-9][0-9]{0,17})\Z")


@dataclass(frozen=True)
class DataProblem:
    line: int
    col: int
    message: str


@dataclass(frozen=True)
class Row:
    line: int
    col: int
    values: dict[str, Any]


@dataclass
class Table:
    """A data file read: its variables (in order), its rows, and what is wrong with it.
    `header` is where a variable the file lacks is reported: the CSV header, else the
    first row."""

    columns: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    problems: list[DataProblem] = field(default_factory=list)
    header: tuple[int, int] = (1, 1)

    def problem(self, line: int, col: int, message: str) -> None:
        self.problems.append(DataProblem(line, col, message))


def read_table(suffix: str, raw: bytes) -> Table:
    """The rows of a data file's bytes; `suffix` (`.csv`…) says how to read them."""
    table = Table()
    if suffix in (".yaml", ".yml"):
        _yaml_rows(raw, table)
        return table
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")  # spreadsheets write a BOM
    except UnicodeDecodeError as exc:
        line, col = _position(raw.decode("utf-8", "replace"), exc.start)
        table.problem(line, col, f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x})")
        return table
    if suffix == ".csv":
        _csv_rows(text, table)
    else:
        records = _jsonl_records(text, table) if suffix == ".jsonl" else _json_records(text, table)
        for line, col, record in records:
            _add_record(table, line, col, record)
    if not table.rows and not table.problems:
        table.problem(1, 1, "the file has no rows; each row is one combination")
    return table


# -- CSV -----------------------------------------------------------------------------------


def _csv_rows(text: str, table: Table) -> None:
    lines = text.splitlines()
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1  # the line the next record starts on
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not record:
                continue  # a blank line
            if not table.columns:
                table.header = (line, 1)
                _csv_header(record, lines[line - 1] if line <= len(lines) else "", table)
                if table.problems:
                    return  # rows cannot be read against a header that is wrong
                continue
            raw = lines[line - 1] if line <= len(lines) else ""
            _csv_record(table, line, raw, record)
            if len(table.rows) + len(table.problems) > MAX_ROWS:
                table.problem(line, 1, f"more than {MAX_ROWS:,} rows; split the file")
                return
    except csv.Error as exc:
        if reader.line_num >= len(lines) and '"' in (
            lines[start - 1] if start <= len(lines) else ""
        ):
            # strict csv reads an unclosed quote to the end of the file: say where it opened
            raw = lines[start - 1]
            msg = 'a quote `"` opened in this row is never closed; close it, or double it: ""'
            table.problem(start, raw.index('"') + 1, msg)
        else:
            table.problem(reader.line_num or start, 1, f"not CSV: {exc}")


def _csv_header(cells: list[str], raw: str, table: Table) -> None:
    starts = _field_starts(raw)
    seen: dict[str, int] = {}
    for i, cell in enumerate(cells):
        col = starts[i] if i < len(starts) else 1
        name = cell.strip()
        if not VARIABLE.match(name):
            hint = "; a CSV file here is separated by `,`" if re.search("[;\t|]", name) else ""
            table.problem(table.header[0], col, f"{_not_a_variable(name)}{hint}")
        elif name in seen:
            table.problem(
                table.header[0],
                col,
                f"column `{name}` appears twice (first at column {seen[name]})",
            )
        seen.setdefault(name, col)
        table.columns.append(name)
    if table.problems:
        table.columns.clear()  # which variables were meant is not known


def _csv_record(table: Table, line: int, raw: str, record: list[str]) -> None:
    want = len(table.columns)
    if len(record) != want:
        starts = _field_starts(raw)
        has = f"{len(record)} field{'s' if len(record) != 1 else ''}"
        if len(record) > want:
            col = starts[want] if want < len(starts) else 1
            msg = f'this row has {has}, the header {want}: a field with `,` is quoted: "a,b"'
        else:
            col = len(raw) + 1
            listed = ", ".join(f"`{c}`" for c in table.columns)
            msg = f"this row has {has}, the header {want} ({listed}): add the missing ones"
        table.problem(line, col, msg)
        return
    starts = _field_starts(raw)
    values: dict[str, Any] = {}
    for i, (name, cell) in enumerate(zip(table.columns, record, strict=True)):
        col = starts[i] if i < len(starts) else 1
        # An integer written the one way Python writes it back, so `007` stays text.
        value: Any = int(cell) if _CANONICAL_INT.match(cell) else cell
        if not _value_ok(table, line, col, name, value):
            return
        values[name] = value
    table.rows.append(Row(line, 1, values))


def _field_starts(raw: str) -> list[int]:
    """The 1-based column where each field of one CSV line starts."""
    starts, quoted = [1], False
    for i, char in enumerate(raw):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            starts.append(i + 2)
    return starts


# -- JSON Lines, JSON ----------------------------------------------------------------------


def _jsonl_records(text: str, table: Table) -> Iterator[tuple[int, int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, 1, _decode(line, 0)[0]
        except json.JSONDecodeError as exc:
            table.problem(number, exc.colno, f"not JSON: {exc.msg}")
        except (RecursionError, _DuplicateKey) as exc:
            table.problem(number, 1, _decode_problem(exc))
        if len(table.rows) + len(table.problems) > MAX_ROWS:
            table.problem(number, 1, f"more than {MAX_ROWS:,} rows; split the file")
            return


def _json_records(text: str, table: Table) -> Iterator[tuple[int, int, Any]]:
    """The objects of a JSON list, each with the line and column it starts at."""
    ws = re.compile(r"[ \t\n\r]*")
    i = ws.match(text).end()  # type: ignore[union-attr]
    if text[i : i + 1] != "[":
        table.problem(*_position(text, i), "a JSON data file is a list of objects: [{…}, {…}]")
        return
    i = ws.match(text, i + 1).end()  # type: ignore[union-attr]
    closed = text[i : i + 1] == "]"
    end = i + 1 if closed else i
    while not closed:
        try:
            value, end = _decode(text, i)
        except json.JSONDecodeError as exc:
            table.problem(exc.lineno, exc.colno, f"not JSON: {exc.msg}")
            return
        except (RecursionError, _DuplicateKey) as exc:
            table.problem(*_position(text, i), _decode_problem(exc))
            return
        yield (*_position(text, i), value)
        if len(table.rows) + len(table.problems) > MAX_ROWS:
            table.problem(*_position(text, i), f"more than {MAX_ROWS:,} rows; split the file")
            return
        i = ws.match(text, end).end()  # type: ignore[union-attr]
        closed = text[i : i + 1] == "]"
        if not closed and text[i : i + 1] != ",":
            table.problem(*_position(text, i), "not JSON: expected `,` or `]` after a row")
            return
        i = ws.match(text, i + 1).end()  # type: ignore[union-attr]
        end = i
    rest = ws.match(text, end).end()  # type: ignore[union-attr]
    if rest < len(text):
        table.problem(*_position(text, rest), "not JSON: text after the closing `]`")


class _DuplicateKey(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs)


def _decode(text: str, start: int) -> tuple[Any, int]:
    value, end = _DECODER.raw_decode(text, start)
    if start == 0 and text[end:].strip():
        raise json.JSONDecodeError("one object per line; text after it", text, end)
    return value, end


def _decode_problem(exc: Exception) -> str:
    if isinstance(exc, _DuplicateKey):
        return f"duplicate key `{visible(str(exc))}`; a key may appear once in a row"
    return "nested too deep; a row is an object of strings and integers"


def _position(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


# -- YAML ----------------------------------------------------------------------------------


def _yaml_rows(raw: bytes, table: Table) -> None:
    doc = load(raw)
    for p in doc.problems:
        table.problem(p.line, p.col, p.message)
    if doc.problems:
        return
    if not isinstance(doc.data, list):
        table.problem(1, 1, "a YAML data file is a list of mappings: `- {repo: api}`")
        return
    if not doc.data:
        table.problem(1, 1, "the file has no rows; each row is one combination")
    for i, record in enumerate(doc.data[:MAX_ROWS]):
        node = doc.node((i,))
        hints = (
            {k: quote_hint(doc.node((i, k))) for k in record} if isinstance(record, dict) else {}
        )
        _add_record(table, node.line, node.col, record, hints)
    if len(doc.data) > MAX_ROWS:
        table.problem(doc.node((MAX_ROWS,)).line, 1, f"more than {MAX_ROWS:,} rows; split it")


# -- every format ----------------------------------------------------------------------------


def _add_record(
    table: Table, line: int, col: int, record: Any, hints: dict[str, str] | None = None
) -> None:
    """One JSON or YAML row: an object giving the variables the first row gives."""
    if not isinstance(record, dict) or not record:
        table.problem(line, col, 'a row is an object of variables: {"repo": "api"}')
        return
    if not table.columns and not any(p.line < line for p in table.problems):
        table.header = (line, col)
        for key in record:
            if not VARIABLE.match(key):
                table.problem(line, col, _not_a_variable(key))
                return
        table.columns = list(record)
    missing = [f"`{c}`" for c in table.columns if c not in record]
    extra = [f"`{visible(k)}`" for k in record if k not in table.columns]
    if missing or extra:
        first = table.header[0]
        said = "; ".join(
            [f"it lacks {', '.join(missing)}"] * bool(missing)
            + [f"it gives {', '.join(extra)}"] * bool(extra)
        )
        msg = f"every row gives the variables of the first row (line {first}); {said}"
        table.problem(line, col, msg)
        return
    for name in table.columns:
        if not _value_ok(table, line, col, name, record[name], (hints or {}).get(name, "")):
            return
    table.rows.append(Row(line, col, {c: record[c] for c in table.columns}))


def _value_ok(table: Table, line: int, col: int, name: str, value: Any, hint: str = "") -> bool:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        what = "a boolean" if isinstance(value, bool) else _kind(value)
        msg = f"`{name}` is {what}" + (hint or "; a value is a string or an integer")
        table.problem(line, col, msg)
        return False
    if isinstance(value, str) and "${{" in value:
        msg = f"`{name}` holds `${{{{`; a data value is text, never a template"
        table.problem(line, col, msg)
        return False
    return True


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return "a number with a fraction"
    return (
        "a list"
        if isinstance(value, list)
        else "an object"
        if isinstance(value, dict)
        else "a date"
    )


def _not_a_variable(name: str) -> str:
    shown = visible(name)
    return (
        f"`{shown}` is not a variable name: letters, digits, `_` and `-`, not starting with a digit"
        if name
        else "a column has no name; every column of the header names a variable"
    )
