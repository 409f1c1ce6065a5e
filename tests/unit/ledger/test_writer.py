"""The ledger's durable writing: the documented line, group fsyncs, a cancelled or failed
append, closing, several event loops."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import pytest

from launcher.errors import LedgerError
from launcher.ledger import events as ledger
from launcher.ledger.read import read_state
from launcher.ledger.writer import LedgerWriter
from tests.support.ledgerkit import CREATED, entry

pytestmark = pytest.mark.anyio


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


async def test_append_all_writes_in_order_and_returns_once_one_fsync_covers_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.jsonl"
    covered: list[int] = []  # the file's size at each fsync of it
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        real_fsync(fd)
        if path.exists() and st.st_ino == path.stat().st_ino:  # not the folder's fsync
            covered.append(st.st_size)

    monkeypatch.setattr(os, "fsync", fsync)
    entries = [entry(f"t{i}") for i in range(30)]
    with LedgerWriter.open(path, "r") as w:
        await w.append_all(("sending", e, {"attempt": 1}) for e in entries)
        assert covered == [path.stat().st_size]  # one fsync, and it covers every line
        await w.append_all([])  # nothing to write: no fsync
        assert len(covered) == 1
        with pytest.raises(ValueError, match="session_id"):  # refused before it is written
            await w.append_all([("created", entry("bad"), {"url": "u"})])
    assert [r.name for r in read_state(path).records()] == [e.name for e in entries]


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
