"""`launcher ledger merge` and `ledger summary A B ...`: every event with its run id, in
timestamp order; an input is never overwritten, whatever the spelling of the path."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from launcher.cli import main
from tests.support.runkit import read_ledger


def event(key: str, kind: str, ts: str, run_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "ts": f"2026-03-0{ts}T02:00:00.000Z",
        "event": kind,
        "entry": f"m.yaml#{key}",
        "name": key,
        "key": key * 8,
        "run_id": run_id,
        "content": "c" * 32,
        **fields,
    }


def write(path: Path, *events: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


@pytest.fixture
def shards(tmp_path: Path) -> list[Path]:
    a = write(
        tmp_path / "in" / "a.jsonl",
        event("aaaa", "sending", "1", "run-a", attempt=1),
        event("aaaa", "failed", "2", "run-a", error="503", status=503, retry_at="2026-03-09Z"),
        event("cccc", "sending", "5", "run-a2", attempt=1),
        event("cccc", "created", "6", "run-a2", session_id="devin-c", url="u"),
    )
    b = write(
        tmp_path / "in" / "b.jsonl",
        event("bbbb", "sending", "3", "run-b", attempt=1),
        event("bbbb", "created", "4", "run-b", session_id="devin-b", url="u"),
        event("aaaa", "sending", "7", "run-b", attempt=1),
        event("aaaa", "created", "8", "run-b", session_id="devin-a", url="u"),
    )
    return [a, b]


def merge(*args: str | Path) -> int:
    return main(["ledger", "merge", *map(str, args)])


def test_merge_keeps_every_event_and_run_id_in_time_order(
    shards: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = [p.read_bytes() for p in shards]
    out = tmp_path / "out" / "merged.jsonl"
    assert merge(*shards, "--output", out) == 0
    assert "8 events of 3 keys" in capsys.readouterr().out
    events = read_ledger(out)
    assert [e["ts"][8:10] for e in events] == ["01", "02", "03", "04", "05", "06", "07", "08"]
    assert [e["run_id"] for e in events] == ["run-a"] * 2 + ["run-b"] * 2 + ["run-a2"] * 2 + [
        "run-b"
    ] * 2
    assert [p.read_bytes() for p in shards] == before, "inputs are never changed"
    assert main(["ledger", "summary", str(out), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"]["created"] == 3
    assert {e["session_id"] for e in summary["entries"]} == {"devin-a", "devin-b", "devin-c"}


def test_summary_of_several_ledgers_is_the_summary_of_their_merge(
    shards: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "merged.jsonl"
    assert merge(*shards, "--output", out) == 0
    capsys.readouterr()
    assert main(["ledger", "summary", str(out), "--format", "json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert main(["ledger", "summary", *map(str, shards), "--format", "json"]) == 0
    several = json.loads(capsys.readouterr().out)
    assert several["ledger"] == f"{shards[0]}, {shards[1]}"
    assert {k: v for k, v in several.items() if k != "ledger"} == {
        k: v for k, v in one.items() if k != "ledger"
    }
    assert main(["ledger", "summary", *map(str, shards)]) == 0
    assert "created 3" in capsys.readouterr().out


def test_the_same_ledger_twice_keeps_each_event_once(
    shards: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(shards[0].read_bytes())
    assert merge(shards[0], copy, shards[1], "--output", tmp_path / "m.jsonl") == 0
    assert "(4 found twice, kept once)" in capsys.readouterr().out
    assert len(read_ledger(tmp_path / "m.jsonl")) == 8


def spellings(path: Path) -> list[Path]:
    """The same file by other names: `..`, a symlink, a hard link."""
    (path.parent / "sub").mkdir(exist_ok=True)
    link = path.parent / "link.jsonl"
    link.symlink_to(path)
    hard = path.parent / "hard.jsonl"
    os.link(path, hard)
    return [path.parent / "sub" / ".." / path.name, link, hard]


def test_merge_refuses_to_overwrite_an_input_however_spelled(
    shards: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before = shards[0].read_bytes()
    for other in spellings(shards[0]):
        assert merge(*shards, "--output", other) == 2
        err = capsys.readouterr().err
        assert f"--output {other} is the input {shards[0]}" in err
        assert shards[0].read_bytes() == before
        assert "Traceback" not in err


def test_merge_refuses_an_existing_output(
    shards: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = write(tmp_path / "old.jsonl", event("dddd", "created", "1", "r", session_id="d"))
    before = out.read_bytes()
    assert merge(*shards, "--output", out) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_a_damaged_input_is_named_with_its_line_and_nothing_is_written(
    shards: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = shards[1].read_text().splitlines(keepends=True)
    shards[1].write_text(lines[0] + "{not json\n" + "".join(lines[1:]))
    out = tmp_path / "merged.jsonl"
    assert merge(*shards, "--output", out) == 2
    assert f"ledger {shards[1]} is damaged at line 2" in capsys.readouterr().err
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if "merge" in p.name] == []


def test_a_torn_last_line_is_left_out_with_a_warning(
    shards: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(shards[1], "a") as f:
        f.write('{"v":1,"ts":"2026-03-09T0')
    out = tmp_path / "merged.jsonl"
    assert merge(*shards, "--output", out) == 0
    assert "incomplete last line (line 5)" in capsys.readouterr().err
    assert len(read_ledger(out)) == 8


def test_events_of_a_newer_launcher_are_refused_not_dropped(
    shards: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(shards[0], "a") as f:
        f.write(json.dumps({"v": 2, "ts": "2026-03-09T00:00:00.000Z", "event": "x"}) + "\n")
    assert merge(*shards, "--output", tmp_path / "m.jsonl") == 2
    assert "1 event a newer launcher wrote" in capsys.readouterr().err
    assert not (tmp_path / "m.jsonl").exists()


def test_a_missing_input_is_an_error(
    shards: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert merge(shards[0], tmp_path / "nope.jsonl", "--output", tmp_path / "m.jsonl") == 2
    assert f"no ledger at {tmp_path / 'nope.jsonl'}" in capsys.readouterr().err


def test_the_same_key_created_with_two_sessions_in_two_shards_is_warned(
    shards: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = write(tmp_path / "c.jsonl", event("bbbb", "created", "9", "run-c", session_id="dup"))
    assert merge(*shards, other, "--output", tmp_path / "m.jsonl") == 0
    err = capsys.readouterr().err
    assert "recorded created 2 times" in err and "devin-b, dup" in err


def test_summary_of_several_with_one_missing_is_an_error(
    shards: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "shard-9.jsonl"
    assert main(["ledger", "summary", str(shards[0]), str(missing)]) == 2
    assert f"no ledger at {missing}" in capsys.readouterr().err
