"""Reading a ledger: a missing file is empty, newer and unknown events are skipped with one
warning per kind, a torn last line is ignored (and cut when a writer opens it), damage
anywhere else is an error naming its line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from launcher.errors import LedgerError
from launcher.ledger.read import read_state
from launcher.ledger.writer import LedgerWriter
from tests.support.ledgerkit import CREATED, entry, event

GOOD = (
    b'{"v":1,"ts":"2026-01-01T00:00:00.000Z","event":"created","entry":"m.yaml#a",'
    b'"name":"a","key":"k1","run_id":"r","content":"c","session_id":"devin-1"}\n'
)


@pytest.mark.parametrize("depth", [600, 5_000, 100_000])
def test_a_deeply_nested_line_is_damage_at_its_line(tmp_path: Path, depth: int) -> None:
    ledger = tmp_path / "l.jsonl"
    deep = b'{"v":1,"x":' + b"[" * depth + b"]" * depth + b"}\n"
    ledger.write_bytes(GOOD + deep + GOOD)
    with pytest.raises(LedgerError, match="damaged at line 2: nested deeper than 64 levels"):
        read_state(ledger)


@pytest.mark.parametrize("sid", [".", ".."])
def test_a_session_id_without_letter_or_digit_is_damage(tmp_path: Path, sid: str) -> None:
    ledger = tmp_path / "l.jsonl"
    ledger.write_bytes(GOOD + GOOD.replace(b'"devin-1"', f'"{sid}"'.encode()))
    with pytest.raises(LedgerError, match="damaged at line 2: field 'session_id' has no letter"):
        read_state(ledger)


def test_missing_file_is_an_empty_state(tmp_path: Path) -> None:
    state = read_state(tmp_path / "nope.jsonl")
    assert state.records() == [] and state.warnings == []


def test_second_created_with_another_session_is_a_possible_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text(event("created", **CREATED) + event("created", session_id="devin-2"))
    state = read_state(path)
    record = state.get("k1")
    assert record is not None and record.session_id == "devin-1"
    assert len(state.warnings) == 1
    assert "possible duplicate session" in state.warnings[0] and "devin-2" in state.warnings[0]


def test_newer_versions_and_unknown_events_are_ignored_with_one_warning_per_kind(
    tmp_path: Path,
) -> None:
    path = tmp_path / "l.jsonl"
    newer = json.dumps({"v": 2, "whatever": True}) + "\n"
    path.write_text(
        event("paused") * 3 + newer + event("created", **CREATED) + newer + event("paused")
    )
    state = read_state(path)
    assert sorted(state.warnings) == [
        "ignored 2 events of ledger version 2 (from a newer launcher?)",
        "ignored 4 events of unknown type 'paused' (from a newer launcher?)",
    ]
    assert [r.outcome for r in state.records()] == ["created"]


@pytest.mark.parametrize(
    "tail",
    [b'{"v":1,"ts":"2026', b"\x00\x00\x00\x00", b'{"v":1,"name":"caf\xc3', b'{"v'],
)
def test_torn_last_line_is_ignored_on_read_and_cut_on_open(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "l.jsonl"
    good = (event("sending", attempt=1) + event("created", **CREATED)).encode()
    path.write_bytes(good + tail)
    state = read_state(path)
    assert len(state.warnings) == 1 and "incomplete last line (line 3)" in state.warnings[0]
    assert path.read_bytes() == good + tail  # reading never changes the file

    async def go() -> None:
        with LedgerWriter.open(path, "r2") as w:
            assert w.state.warnings == state.warnings
            await w.append("sending", entry("t9"), attempt=1)

    anyio.run(go)
    lines = path.read_bytes().splitlines(keepends=True)
    assert b"".join(lines[:2]) == good and len(lines) == 3
    assert read_state(path).warnings == []


def test_complete_last_line_without_newline_is_kept_and_completed(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text(event("sending", attempt=1) + event("created", **CREATED).rstrip("\n"))
    record = read_state(path).get("k1")
    assert record is not None and record.outcome == "created"  # a `created` is never dropped
    with LedgerWriter.open(path, "r2") as w:
        assert w.state.warnings == []
    assert path.read_text().endswith("}\n")


@pytest.mark.parametrize(
    ("middle", "why"),
    [
        ('{"v":1,"ts":"x"\n', "not valid JSON"),
        ("[1, 2]\n", "not a JSON object"),
        (event("created", url="u"), "'session_id' is missing"),
        (event("failed", status=True), "'status' has the wrong type"),
        (event("sending").replace('"key":"k1"', '"key":7'), "'key' is missing or not a string"),
        ('{"v":"1"}\n', "'v' is not 1"),
        ("caf\xe9\n", "not valid JSON"),
    ],
)
def test_damage_anywhere_but_a_torn_tail_is_an_error_with_its_line(
    tmp_path: Path, middle: str, why: str
) -> None:
    path = tmp_path / "l.jsonl"
    path.write_bytes(
        (event("sending", attempt=1) + "\n").encode()
        + middle.encode("latin-1" if "\xe9" in middle else "utf-8")
        + event("created", **CREATED).encode()
    )
    with pytest.raises(LedgerError, match=f"damaged at line 3: .*{why}"):
        read_state(path)
    with pytest.raises(LedgerError, match="damaged at line 3"):
        LedgerWriter.open(path, "r2")


def test_a_complete_but_invalid_last_line_is_damage_not_a_tear(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text(event("sending", attempt=1) + event("created"))
    with pytest.raises(LedgerError, match="damaged at line 2"):
        read_state(path)
