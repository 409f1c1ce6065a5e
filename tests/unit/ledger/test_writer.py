"""The ledger's reading, folding and durable writing (launcher/ledger/)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.entry import Entry
from launcher.errors import LedgerError
from launcher.ledger import events as ledger
from launcher.ledger.read import read_state
from launcher.ledger.writer import LedgerWriter

pytestmark = pytest.mark.anyio


def entry(name: str = "t1", file: str = "m.yaml", **request: Any) -> Entry:
    return Entry(name=name, file=file, path=file, line=1, request={"prompt": name, **request})


def event(ev: str, key: str = "k1", name: str = "t1", **fields: Any) -> str:
    doc = {"v": 1, "ts": "2026-11-29T08:30:00.000Z", "event": ev, "entry": f"m.yaml#{name}"}
    doc |= {"name": name, "key": key, "run_id": "r1", "content": "c", **fields}
    return json.dumps(doc, separators=(",", ":")) + "\n"


CREATED: dict[str, Any] = {
    "session_id": "devin-1",
    "url": "https://app.devin.ai/sessions/1",
    "is_new_session": True,
}


async def test_round_trip_writes_the_documented_line(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    e = entry("upgrade-api", tags=["x"])
    with LedgerWriter.open(path, "run-1") as w:
        assert w.state.records() == [] and w.path == path
        await w.append("sending", e, attempt=1)
        await w.append("created", e, **CREATED)
    lines = path.read_bytes().decode().splitlines()
    first = json.loads(lines[0])
    assert list(first) == [*ledger._HEADER, "attempt"]
    assert first["ts"].endswith("Z") and len(first["ts"]) == len("2026-11-29T08:30:00.000Z")
    assert (first["entry"], first["key"], first["content"]) == (
        "m.yaml#upgrade-api",
        e.key,
        e.content,
    )
    assert lines[1].startswith('{"v":1,') and ", " not in lines[1]  # compact
    record = read_state(path).get(e.key)
    assert record is not None
    assert (record.outcome, record.session_id, record.attempts, record.run_id) == (
        "created",
        "devin-1",
        1,
        "run-1",
    )
    assert record.is_new_session is True and record.reconciled is False


async def test_unicode_is_written_as_utf8_and_u2028_does_not_split_lines(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    e = entry("café")
    with LedgerWriter.open(path, "r") as w:
        await w.append("failed", e, error="bad\u2028thing ✗\nnext", status=422)
    assert "café" in path.read_text(encoding="utf-8")
    record = read_state(path).get(e.key)
    assert record is not None and record.error == "bad\u2028thing ✗\nnext" and record.status == 422


async def test_append_refuses_what_the_reader_would_call_damage(tmp_path: Path) -> None:
    with LedgerWriter.open(tmp_path / "l.jsonl", "r") as w:
        with pytest.raises(ValueError, match="session_id"):
            await w.append("created", entry(), url="u")
        with pytest.raises(ValueError, match="unknown event"):
            await w.append("bogus", entry())
        with pytest.raises(ValueError, match="set by the ledger"):
            await w.append("sending", entry(), key="other")
    assert (tmp_path / "l.jsonl").read_bytes() == b""


async def test_no_append_returns_before_an_fsync_covers_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.jsonl"
    durable = 0  # bytes covered by a completed fsync
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        nonlocal durable
        st = os.fstat(fd)  # what this fsync covers: everything written before it
        real_fsync(fd)
        if path.exists() and st.st_ino == path.stat().st_ino:  # not the folder's fsync
            durable = max(durable, st.st_size)

    monkeypatch.setattr(os, "fsync", fsync)
    with LedgerWriter.open(path, "r") as w:

        async def one(i: int) -> None:
            e = entry(f"t{i}")
            await w.append("sending", e, attempt=1)
            data = path.read_bytes()
            end = data.index(b"\n", data.index(e.key.encode())) + 1
            assert durable >= end, f"append of t{i} returned before its line was fsync'd"

        await one(-1)
        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(one, i)
    assert len(read_state(path).records()) == 41


async def test_concurrent_appends_share_fsyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        nonlocal calls
        calls += 1
        real_fsync(fd)

    tasks, each = 32, 20
    with LedgerWriter.open(tmp_path / "ledger.jsonl", "r") as w:
        monkeypatch.setattr(os, "fsync", counting_fsync)

        async def worker(t: int) -> None:
            for i in range(each):
                await w.append("sending", entry(f"t{t}-{i}"), attempt=1)

        async with anyio.create_task_group() as tg:
            for t in range(tasks):
                tg.start_soon(worker, t)
    assert calls <= tasks * each / 4, f"{calls} fsyncs for {tasks * each} appends"
    assert len(read_state(tmp_path / "ledger.jsonl").records()) == tasks * each


async def test_a_cancelled_append_still_makes_its_line_durable(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    with LedgerWriter.open(path, "r") as w:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await w.append("created", entry(), **CREATED)
        assert w._synced == w._written == 1
    assert read_state(path).get(entry().key) is not None


async def test_a_failed_fsync_breaks_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    with LedgerWriter.open(tmp_path / "l.jsonl", "r") as w:
        monkeypatch.setattr(os, "fsync", failing_fsync)
        with pytest.raises(LedgerError, match="cannot write ledger"):
            await w.append("sending", entry(), attempt=1)
        monkeypatch.undo()
        with pytest.raises(LedgerError, match="Input/output error"):  # never "retried" into trust
            await w.append("sending", entry(), attempt=2)


def test_close_is_idempotent_and_append_after_close_fails(tmp_path: Path) -> None:
    w = LedgerWriter.open(tmp_path / "l.jsonl", "r")
    w.close()
    w.close()
    with pytest.raises(LedgerError, match="closed"):
        anyio.run(lambda: w.append("sending", entry(), attempt=1))


# --- reading ------------------------------------------------------------------------


def test_missing_file_is_an_empty_state(tmp_path: Path) -> None:
    state = read_state(tmp_path / "nope.jsonl")
    assert state.records() == [] and state.warnings == []


def test_fold_latest_wins_created_is_sticky_and_attempts_count(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text(
        event("sending", attempt=1)
        + event("failed", error="boom", status=500)
        + "\n"  # empty lines are ignored
        + event("sending", attempt=2)
        + event("created", **CREATED)
        + event("failed", error="late", status=500)
        + event("sending", key="k2", name="t2", attempt=1)
        + event("in_doubt", key="k2", name="t2", error="read timeout")
    )
    state = read_state(path)
    k1, k2 = state.get("k1"), state.get("k2")
    assert k1 is not None and k2 is not None
    assert (k1.outcome, k1.session_id, k1.attempts, k1.error) == ("created", "devin-1", 2, None)
    assert (k2.outcome, k2.error, k2.attempts) == ("in_doubt", "read timeout", 1)
    assert [r.key for r in state.records()] == ["k1", "k2"]
    assert state.created_for_name("t1") == [k1] and state.created_for_name("t2") == []
    assert state.warnings == []


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


def test_new_run_id_is_sortable_and_distinct() -> None:
    a, b = ledger.new_run_id(), ledger.new_run_id()
    assert a != b and len(a) == len("20261129T083000Z-3f9a1c") and a[8] == "T" and a[15] == "Z"


def test_writer_opened_outside_the_event_loop_serves_several_loops(tmp_path: Path) -> None:
    # The runner opens the writer, then dispatches inside anyio.run.
    path = tmp_path / "l.jsonl"
    with LedgerWriter.open(path, "r") as w:

        async def one(i: int) -> None:
            await w.append("sending", entry(f"t{i}"), attempt=1)

        async def burst(start: int) -> None:
            async with anyio.create_task_group() as tg:
                for i in range(start, start + 20):
                    tg.start_soon(one, i)

        anyio.run(burst, 0)
        anyio.run(burst, 20)
    assert len(read_state(path).records()) == 40
