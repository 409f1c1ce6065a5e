"""Matrix rows from a data file: the four formats expand alike, every problem is shown at
the data file's own line, a folder PATH skips the data files its manifests name, and a
row's content is part of its entry's content (what `plan` compares)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest

from launcher.cli import main
from launcher.entry import Entry
from launcher.manifest import check
from launcher.manifest.datafile import MAX_DATA_BYTES

MANIFEST = """\
version: 1
sessions:
  - name: up-${{{{ matrix.repo }}}}
    matrix: {{from: {data}}}
    prompt: Upgrade ${{{{ matrix.owner }}}}/${{{{ matrix.repo }}}} to Python 3.12.
    max_acu_limit: ${{{{ matrix.acu }}}}
"""
ROWS: list[dict[str, Any]] = [
    {"repo": "api", "owner": "acme", "acu": 5},
    {"repo": "web", "owner": "acme", "acu": 3},
    {"repo": "worker", "owner": "acme-ops", "acu": 10},
]


def _csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _write(folder: Path, data: str, rows: list[dict[str, Any]] = ROWS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / data
    if data.endswith(".csv"):
        _csv(target, rows)
    elif data.endswith(".jsonl"):
        target.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif data.endswith(".json"):
        target.write_text(json.dumps(rows, indent=2))
    else:
        target.write_text("".join(f"- {json.dumps(r)}\n" for r in rows))
    manifest = folder / "up.yaml"
    manifest.write_text(MANIFEST.format(data=data))
    return manifest


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("data", ["rows.csv", "rows.jsonl", "rows.json", "rows.yaml"])
def test_every_format_expands_the_same(tmp_path: Path, data: str) -> None:
    reference = check([str(_write(tmp_path / "csv", "rows.csv"))])
    result = check([str(_write(tmp_path / data.replace(".", "-"), data))])
    assert result.diagnostics == [] and reference.diagnostics == []
    assert [(e.name, e.request, e.content) for e in result.entries] == [
        (e.name, e.request, e.content) for e in reference.entries
    ]
    assert [e.name for e in result.entries] == ["up-api", "up-web", "up-worker"]
    # an integer cell fills an integer field as an integer, whatever the format
    assert [e.request["max_acu_limit"] for e in result.entries] == [5, 3, 10]


def test_a_jsonl_and_a_yaml_source_expand_the_same(tmp_path: Path) -> None:
    jsonl = check([str(_write(tmp_path / "a", "targets.jsonl"))])
    yaml = check([str(_write(tmp_path / "b", "targets.yaml"))])
    assert jsonl.diagnostics == yaml.diagnostics == []
    assert [(e.name, e.request, e.content, e.key) for e in jsonl.entries] == [
        (e.name, e.request, e.content, e.key) for e in yaml.entries
    ]


def test_a_csv_cell_that_is_text_stays_text(tmp_path: Path) -> None:
    rows = [{"repo": "007", "owner": "acme", "acu": "5"}, {"repo": "-0", "owner": "x", "acu": 1}]
    result = check([str(_write(tmp_path, "rows.csv", rows))])
    assert result.diagnostics == []
    assert [e.name for e in result.entries] == ["up-007", "up--0"]


def _two_hundred(folder: Path) -> Path:
    rows = [{"repo": f"repo-{i:03}", "owner": "acme", "acu": 2} for i in range(200)]
    return _write(folder, "targets.csv", rows)


def test_a_200_row_csv_plans_200_entries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _two_hundred(tmp_path / "m")
    ledger = tmp_path / "ledger.jsonl"
    argv = ["plan", "--format", "json", "--ledger", str(ledger), str(manifest)]
    code, out, _ = _run(argv, capsys)
    plan = json.loads(out)
    assert code == 0 and plan["counts"] == {"create": 200, "skip": 0, "changed": 0}
    assert plan["entries"][56]["name"] == "up-repo-056"


def test_a_broken_row_57_is_the_one_thing_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _two_hundred(tmp_path)
    data = tmp_path / "targets.csv"
    lines = data.read_text().splitlines()
    lines[56] = 'repo-055,"acme,2'  # an unclosed quote: csv would read to the end of the file
    data.write_text("\n".join(lines) + "\n")
    code, out, _ = _run(["validate", str(manifest)], capsys)
    assert code == 2
    assert out.splitlines() == [
        f'{data}:57:10: error: a quote `"` opened in this row is never closed; '
        'close it, or double it: ""'
    ]
    lines[56] = "repo-055,acme"
    data.write_text("\n".join(lines) + "\n")
    code, out, _ = _run(["validate", str(manifest)], capsys)
    assert code == 2 and [line.split(": error: ")[0] for line in out.splitlines()] == [
        f"{data}:57:14"
    ]


def _created(entry: Entry, n: int) -> str:
    event = {
        "v": 1,
        "ts": "2026-01-01T00:00:00Z",
        "event": "created",
        "entry": entry.entry_id,
        "name": entry.name,
        "key": entry.key,
        "run_id": "r1",
        "content": entry.content,
        "session_id": f"devin-{n}",
        "url": f"https://example.invalid/devin-{n}",
        "is_new_session": True,
    }
    return json.dumps(event) + "\n"


@pytest.mark.parametrize("column", ["acu", "note"], ids=["used column", "unused column"])
def test_editing_one_row_makes_exactly_one_entry_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str
) -> None:
    rows = [{"repo": f"r{i}", "owner": "acme", "acu": 2, "note": ""} for i in range(20)]
    manifest = _write(tmp_path / "m", "targets.csv", rows)
    ledger = tmp_path / "ledger.jsonl"
    entries = check([str(manifest)]).entries
    ledger.write_text("".join(_created(e, n) for n, e in enumerate(entries)))
    rows[7][column] = 4 if column == "acu" else "looked at it"
    _csv(tmp_path / "m" / "targets.csv", rows)
    argv = ["plan", "--format", "json", "--ledger", str(ledger), str(manifest)]
    code, out, _ = _run(argv, capsys)
    plan = json.loads(out)
    assert code == 0 and plan["counts"] == {"create": 1, "skip": 19, "changed": 1}
    assert [e["name"] for e in plan["entries"] if e["changed"]] == ["up-r7"]


def test_a_folder_skips_the_data_files_its_manifests_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, "targets.yaml")
    (tmp_path / "stray.yaml").write_text("- {repo: api}\n- {repo: web}\n")
    code, out, err = _run(["validate", str(tmp_path)], capsys)
    assert code == 0 and out == ""
    notes = [line for line in err.splitlines() if "skipped" in line]
    assert notes == [
        f"launcher: {tmp_path / 'stray.yaml'}: skipped: a list of rows, not a manifest, "
        "and no manifest names it in `matrix: {from: …}`"
    ]
    assert "ok: 2 files, 3 entries" in err  # the manifest and its data file


def test_a_manifest_written_as_a_list_is_still_an_error(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("- version: 1\n- sessions: []\n")
    result = check([str(tmp_path)])
    assert [d.message[:33] for d in result.diagnostics] == ["the top of a manifest is a mappin"]


def test_a_data_file_over_the_limit(tmp_path: Path) -> None:
    manifest = _write(tmp_path, "targets.csv")
    with (tmp_path / "targets.csv").open("a") as f:
        f.write("x,y,1\n" * (MAX_DATA_BYTES // 6 + 1))
    [d] = check([str(manifest)]).diagnostics
    assert (d.file, d.line, d.col) == (str(tmp_path / "targets.csv"), 1, 1)
    assert d.message.startswith("a data file may be at most 4 MiB (4,194,304 bytes)")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_hostile_data_files_are_refused_without_blocking(tmp_path: Path) -> None:
    manifest = _write(tmp_path, "targets.csv")
    (tmp_path / "targets.csv").unlink()
    os.mkfifo(tmp_path / "targets.csv")  # a reader would block forever
    [d] = check([str(manifest)]).diagnostics
    assert "not a regular file but a FIFO (named pipe)" in d.message
    (tmp_path / "targets.csv").unlink()
    (tmp_path / "targets.csv").symlink_to("/dev/zero")  # endless, and outside the folder
    [d] = check([str(manifest)]).diagnostics
    assert d.line == 4 and "leads out of the manifest's folder through a symlink" in d.message
    (tmp_path / "targets.csv").unlink()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.csv"
    outside.write_text("repo,owner,acu\napi,acme,1\n")
    (tmp_path / "targets.csv").symlink_to(outside)
    [d] = check([str(manifest)]).diagnostics
    assert "leads out of the manifest's folder" in d.message


def test_a_data_value_is_never_a_template(tmp_path: Path) -> None:
    rows = [{"repo": "api", "owner": "${{ env.DEVIN_API_KEY }}", "acu": 1}]
    manifest = _write(tmp_path, "rows.jsonl", rows)
    [d] = check([str(manifest)]).diagnostics
    assert (d.line, d.message) == (1, "`owner` holds `${{`; a data value is text, never a template")


@pytest.mark.parametrize(
    ("name", "text", "line", "col", "fragment"),
    [
        ("r.jsonl", '{"repo": "a", "owner": "o", "acu": 1}\n{"repo": "b",\n', 2, 14, "not JSON"),
        ("r.json", '[{"repo": "a", "owner": "o", "acu": 1},\n {"repo"}]', 2, 9, "not JSON"),
        ("r.json", '{"repo": "a"}', 1, 1, "a JSON data file is a list of objects"),
        ("r.jsonl", '{"repo": "a", "repo": "b"}\n', 1, 1, "duplicate key `repo`"),
        ("r.jsonl", "[" * 100_000 + "\n", 1, 1, "nested too deep"),
        ("r.csv", "repo;owner;acu\napi;acme;1\n", 1, 1, "separated by `,`"),
        ("r.csv", "repo,owner,repo\na,b,c\n", 1, 12, "column `repo` appears twice"),
        ("r.csv", "repo,owner,acu\n", 1, 1, "the file has no rows"),
        ("r.yaml", "repo: api\n", 1, 1, "a YAML data file is a list of mappings"),
        ("r.yaml", "- {repo: a, owner: b, acu: 1}\n- [x]\n", 2, 3, "a row is an object"),
    ],
)
def test_malformed_data_is_shown_at_its_line(
    tmp_path: Path, name: str, text: str, line: int, col: int, fragment: str
) -> None:
    manifest = _write(tmp_path, name)
    (tmp_path / name).write_text(text)
    diagnostics = check([str(manifest)]).diagnostics
    assert [(d.file, d.line, d.col) for d in diagnostics] == [(str(tmp_path / name), line, col)]
    assert fragment in diagnostics[0].message
