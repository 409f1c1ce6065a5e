"""`results` for people and spreadsheets: the --status filter, the --fields choice, the
flat columns (matrix.VAR, output.PROP), the table, CSV's formula guard, one JSON shape."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from launcher.cli import main
from launcher.entry import Entry
from launcher.errors import UsageError
from launcher.follow.results import MAX_OUTPUT_COLUMNS, choose
from launcher.follow.targets import Target
from launcher.output.results import write_csv, write_jsonl, write_table
from tests.support.followkit import entry

SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string"}, "files": {"type": "array"}},
}


def target(name: str, status: str | None, output: Any = None, **matrix: Any) -> Target:
    request = {"prompt": f"do {name}", "structured_output_schema": SCHEMA}
    entry = Entry(name, "m.yaml", "m.yaml", 3, request, matrix=matrix)
    t = Target(entry, session_id=f"s-{name}" if status else None, status=status)
    t.structured_output = output
    t.output_valid = None if output is None else True
    if status is None:
        t.create_error = "never sent"
    return t


def batch() -> list[Target]:
    return [
        target("py-3.11", "finished", {"summary": "ok", "files": ["a", {"b": 1}]}, py="3.11"),
        target("py-3.12", "blocked", {"summary": "=1+2", "extra": True}, py="3.12"),
        target("py-3.13", None, py="3.13"),
    ]


def test_csv_has_a_column_per_matrix_variable_and_output_property() -> None:
    out = io.StringIO()
    write_csv(choose(batch(), None, None), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    header = out.getvalue().splitlines()[0].split(",")
    # The schema's properties in its order, then those only an output has.
    assert header[-4:] == ["matrix.py", "output.summary", "output.files", "output.extra"]
    assert [r["matrix.py"] for r in rows] == ["3.11", "3.12", "3.13"]
    assert json.loads(rows[0]["output.files"]) == ["a", {"b": 1}]  # nested: JSON
    assert rows[1]["output.summary"] == "'=1+2"  # a formula is shown as text
    assert rows[1]["output.extra"] == "true" and rows[2]["output.summary"] == ""
    assert rows[2]["status"] == "not_created" and rows[2]["error"] == "never sent"


def test_hostile_property_names_are_guarded_in_the_header_too() -> None:
    t = target("x", "finished", {'=HYPERLINK("http://e")': 1, "-2": 2})
    out = io.StringIO()
    write_csv(choose([t], None, None), out)
    header = next(csv.reader(io.StringIO(out.getvalue())))
    assert "'output.=HYPERLINK" not in header  # the column name starts with output.
    assert all(not h.startswith(("=", "+", "-", "@")) for h in header)


def test_output_columns_are_capped() -> None:
    t = target("x", "finished", {f"k{i}": i for i in range(MAX_OUTPUT_COLUMNS + 50)})
    chosen = choose([t], None, None)
    assert sum(c.startswith("output.") for c in chosen.columns) == MAX_OUTPUT_COLUMNS
    assert chosen.dropped_columns == 52  # the schema's two come first


def test_status_filter_is_repeatable() -> None:
    chosen = choose(batch(), ["finished", "not_created"], None)
    assert [r["name"] for r in chosen.records] == ["py-3.11", "py-3.13"]
    assert choose(batch(), ["expired"], None).records == []


def test_fields_choose_and_order_the_columns_in_every_format() -> None:
    chosen = choose(batch(), None, ["status", "matrix.py", "output.summary", "entry"])
    out = io.StringIO()
    write_jsonl(chosen, out)
    first = json.loads(out.getvalue().splitlines()[0])
    assert list(first) == ["status", "matrix.py", "output.summary", "entry"]
    assert first == {
        "status": "finished",
        "matrix.py": "3.11",
        "output.summary": "ok",
        "entry": "m.yaml#py-3.11",
    }
    out = io.StringIO()
    write_csv(chosen, out)
    assert out.getvalue().splitlines()[0] == "status,matrix.py,output.summary,entry"


def test_an_unknown_field_is_named_with_a_suggestion() -> None:
    with pytest.raises(UsageError, match=r"no field 'stauts'; did you mean 'status'\?"):
        choose(batch(), None, ["stauts"])


def test_table_is_aligned_escaped_and_clipped() -> None:
    targets = batch()
    targets[0].pull_request_url = "https://github.com/o/r/pull/1\x1b]0;pwned\x07"
    targets[1].create_error = "x" * 500
    out = io.StringIO()
    write_table(choose(targets, None, None), out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["entry", "status", "pr", "output", "url", "error"]
    assert "\x1b" not in out.getvalue() and "\\x1b]0;pwned\\x07" in lines[1]
    assert lines[1].split()[:2] == ["m.yaml#py-3.11", "finished"] and "valid" in lines[1]
    assert max(len(line) for line in lines) < 200  # cells are clipped
    assert lines[-1] == "3 entries"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


SGR = re.compile(r"\x1b\[[0-9;]*m")  # colour codes: the only escapes the table writes


@pytest.mark.parametrize("environ", [{"TERM": "xterm-256color"}, {"NO_COLOR": "1"}])
def test_on_a_terminal_the_table_is_rich_with_the_same_columns_escaped(
    environ: dict[str, str],
) -> None:
    targets = batch()
    targets[0].pull_request_url = "https://github.com/o/r/pull/1\x1b]0;pwned\x07"
    targets[1].create_error = "[bold red]not markup[/] " + "x" * 500
    out = Terminal()
    write_table(choose(targets, None, None), out, environ)
    text = SGR.sub("", out.getvalue())
    assert ("\x1b[32m" in out.getvalue()) is ("NO_COLOR" not in environ)  # finished: green
    assert "\x1b" not in text  # nothing from the data acts on the terminal
    lines = text.splitlines()
    assert lines[0].split() == ["entry", "status", "pr", "output", "url", "error"]
    assert lines[1].split()[:2] == ["m.yaml#py-3.11", "finished"]
    assert "pull/1\\x1b]0;p" in lines[1]  # escaped, then shown as text
    assert "[bold red]not markup[/]" in lines[2]  # data is never rich markup
    assert max(len(line) for line in lines) <= 120  # the terminal's width (none here: 120)
    assert lines[2].rstrip().endswith("xxx…")  # the widest columns gave way first
    assert lines[-1] == "3 entries"


def _ledger_run(tmp_path: Path) -> Path:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nsessions:\n  - name: a\n    prompt: p\n")
    return manifest


def test_json_is_one_object_on_success_and_on_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    manifest = _ledger_run(tmp_path)
    ledger = tmp_path / "l.jsonl"
    assert main(["results", str(manifest), "--ledger", str(ledger), "--format", "json"]) == 2
    error = json.loads(capsys.readouterr().out)
    assert error["command"] == "results" and error["ok"] is False
    assert "no ledger at" in error["error"]["message"]
    ledger.write_text("")
    assert main(["results", str(manifest), "--ledger", str(ledger), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["command"] == "results" and doc["ok"] is True and doc["count"] == 1
    assert doc["entries"][0]["status"] == "not_created"
    assert set(error) - {"error"} <= set(doc)  # the same envelope


def test_the_ledger_can_come_from_the_project_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    manifest = _ledger_run(tmp_path)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "l.jsonl").write_text("")
    (tmp_path / "launcher.toml").write_text('ledger = "state/l.jsonl"\n')
    assert main(["results", str(manifest), "--format", "csv", "--fields", "entry,status"]) == 0
    assert capsys.readouterr().out == "entry,status\nm.yaml#a,not_created\n"


def test_results_csv_flattens_output_and_defuses_formulas() -> None:
    t = Target(entry("f"), session_id="s", status="finished", structured_output={"x": [1]})
    t.pull_request_url = '=HYPERLINK("http://evil")'
    out = io.StringIO()
    write_csv(choose([t], None, None), out)
    header, row = out.getvalue().splitlines()
    assert header.startswith("entry,name,key,session_id,url,status,pull_request_url")
    assert '"{""x"": [1]}"' in row and "'=HYPERLINK" in row
