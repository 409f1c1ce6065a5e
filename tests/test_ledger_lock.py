"""One run per ledger (flock on `<ledger>.lock`), and unusable ledger paths."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.errors import ExitCode, LedgerError, LedgerLocked
from launcher.ledger.read import read_state
from launcher.ledger.summary import summarize
from launcher.ledger.writer import LedgerWriter

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import sys, time
from launcher.ledger.writer import LedgerWriter
writer = LedgerWriter.open(sys.argv[1], "run-child")
print("locked", flush=True)
time.sleep(120)
"""


def test_second_open_in_the_same_process_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    with LedgerWriter.open(path, "run-a"):
        holder = json.loads((tmp_path / "ledger.jsonl.lock").read_text())
        assert holder["pid"] == os.getpid() and holder["run_id"] == "run-a"
        assert set(holder) == {"pid", "host", "run_id", "started", "argv0"}
        with pytest.raises(LedgerLocked) as info:
            LedgerWriter.open(path, "run-b")
        message = str(info.value)
        assert message.startswith(f"ledger {path} is held by run run-a (pid {os.getpid()} on ")
        assert socket.gethostname() in message and holder["started"] in message
        assert message.endswith("; wait for it to finish or use another --ledger")
        assert info.value.exit_code == ExitCode.LOCKED and int(ExitCode.LOCKED) == 4
        assert read_state(path).records() == []  # readers need no lock
    with LedgerWriter.open(path, "run-b"):  # released on close
        pass
    assert (tmp_path / "ledger.jsonl.lock").read_text() == ""


def test_lock_held_by_another_process_then_freed_by_its_death(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "locked\n"
        with pytest.raises(LedgerLocked, match=rf"held by run run-child \(pid {child.pid} on "):
            LedgerWriter.open(path, "run-parent")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.stdout is not None
        child.stdout.close()
    assert "run-child" in (tmp_path / "ledger.jsonl.lock").read_text()  # stale, yet no block
    with LedgerWriter.open(path, "run-parent") as w:
        assert w.state.records() == []


def test_missing_folders_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "ledger.jsonl"
    with LedgerWriter.open(path, "r"):
        pass
    assert path.is_file() and path.with_name("ledger.jsonl.lock").is_file()


@pytest.mark.parametrize("below", ["ledger.jsonl", "sub/ledger.jsonl"])
def test_a_file_where_a_folder_should_be_is_a_clear_error(tmp_path: Path, below: str) -> None:
    (tmp_path / "afile").write_text("")
    path = tmp_path / "afile" / below
    with pytest.raises(LedgerError, match="a part of that path is a file, not a folder") as info:
        LedgerWriter.open(path, "r")
    assert str(path) in str(info.value)
    with pytest.raises(LedgerError, match="a part of that path is a file"):
        read_state(path)


def test_a_folder_as_the_ledger_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="that path is a folder; pass a file path"):
        LedgerWriter.open(tmp_path, "r")
    with pytest.raises(LedgerError, match="that path is a folder"):
        read_state(tmp_path)
    with pytest.raises(LedgerError, match="that path is a folder"):
        summarize(tmp_path)
    assert not tmp_path.with_name(tmp_path.name + ".lock").exists()


def test_a_folder_as_the_lock_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "ledger.jsonl.lock").mkdir()
    with pytest.raises(LedgerError, match=r"cannot create lock file .*ledger\.jsonl\.lock"):
        LedgerWriter.open(tmp_path / "ledger.jsonl", "r")
