"""`launcher ledger batches` and `ledger summary --manifests` through `launcher.cli.main`,
over a ledger of two runs written as the launcher writes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from launcher.api.target import ApiTarget
from launcher.cli import main
from launcher.entry import Entry

pytestmark = pytest.mark.slow  # main() twice per test

API = ApiTarget("https://api.devin.ai").as_record()


def entry(name: str, run_key: str = "") -> Entry:
    return Entry(name, "m.yaml", "m.yaml", 1, {"prompt": f"Do {name}"}, run_key)


def line(n: int, event: str, e: Entry, run_id: str, **fields: Any) -> str:
    doc = {
        "v": 1,
        "ts": f"2026-12-03T0{n // 60}:{n % 60:02d}:00.000Z",
        "event": event,
        "entry": e.entry_id,
        "name": e.name,
        "key": e.key,
        "run_id": run_id,
        "content": e.content,
        "api": API,
        **({"run_key": e.run_key} if e.run_key and event in ("sending", "created") else {}),
        **fields,
    }
    return json.dumps(doc) + "\n"


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    r1, r2 = "20261203T010000Z-aaaaaa", "20261203T020000Z-bbbbbb"
    a, b, c = entry("a"), entry("b"), entry("c", "nightly")
    lines = [
        line(0, "sending", a, r1, attempt=1, batch=f"launcher-batch:{r1}"),
        line(1, "created", a, r1, session_id="s-a", batch=f"launcher-batch:{r1}"),
        line(2, "failed", b, r1, error="boom", status=500),
        line(3, "status", a, r1, session_id="s-a", status_enum="finished"),
        line(4, "sending", c, r2, attempt=1, batch=f"launcher-batch:{r2}"),
        line(5, "created", c, r2, session_id="s-c", batch=f"launcher-batch:{r2}"),
        line(6, "cancelled", c, r2, session_id="s-c", detail="terminated"),
    ]
    path = tmp_path / "l.jsonl"
    path.write_text("".join(lines))
    return path


def test_batches_lists_each_run_with_its_counts(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ledger", "batches", str(ledger)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "20261203T010000Z-aaaaaa  run key ''  https://api.devin.ai (v1)  "
        "2026-12-03T01:00:00Z  2 entries: 1 created, 1 failed, 0 pending  (1 finished)",
        "20261203T020000Z-bbbbbb  run key 'nightly'  https://api.devin.ai (v1)  "
        "2026-12-03T02:00:00Z  1 entry: 1 created, 0 failed, 0 pending  (1 cancelled)",
        "2 batches",
    ]
    assert main(["ledger", "batches", str(ledger), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and [b["run_id"] for b in doc["batches"]] == [
        "20261203T010000Z-aaaaaa",
        "20261203T020000Z-bbbbbb",
    ]
    first = doc["batches"][0]
    assert first["entries"] == 2 and first["counts"]["created"] == 1
    assert first["counts"]["failed"] == 1 and first["statuses"] == {"finished": 1}
    assert first["api"]["base_url"] == "https://api.devin.ai" and first["run_keys"] == [""]


def test_summary_with_manifests_keeps_the_status_line(
    ledger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    one.write_text("version: 1\nsessions:\n  - name: a\n    prompt: Do a\n")
    two.write_text("version: 1\nsessions:\n  - name: b\n    prompt: Do b\n")
    # The ledger's entries are m.yaml#…; these manifests are one.yaml and two.yaml: name
    # the ledger's file as theirs so that the entry ids meet.
    text = ledger.read_text().replace('"m.yaml#a"', '"one.yaml#a"')
    ledger.write_text(text.replace('"m.yaml#b"', '"two.yaml#b"'))
    code = main(
        ["ledger", "summary", str(ledger), "--manifests", str(one), "--manifests", str(two)]
    )
    out = capsys.readouterr().out
    assert code == 1  # b failed
    assert "created 1" in out and "failed 1" in out
    assert "finished 1" in out, out
