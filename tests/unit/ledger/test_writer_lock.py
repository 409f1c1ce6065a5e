"""One run per ledger: a flock on the ledger file itself, shared by every name of the file,
with the holder named in an extended attribute of the file; and unusable ledger paths."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from launcher.errors import ExitCode, LedgerError, LedgerLocked
from launcher.ledger import writer as writer_module
from launcher.ledger.read import read_state
from launcher.ledger.summary import summarize
from launcher.ledger.writer import HOLDER_XATTR, LedgerWriter
from tests.support.paths import ROOT

CHILD = """
import sys, time
from launcher.ledger.writer import LedgerWriter
writer = LedgerWriter.open(sys.argv[1], "run-child")
print("locked", flush=True)
time.sleep(120)
"""


def holder_of(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(os.getxattr(path, HOLDER_XATTR)))
    except OSError as exc:
        assert exc.errno == errno.ENODATA
        return None


def test_second_open_in_the_same_process_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    with LedgerWriter.open(path, "run-a"):
        holder = holder_of(path)
        assert holder is not None
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
    assert holder_of(path) is None  # released on close: nobody is named any more
    with LedgerWriter.open(path, "run-b"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.jsonl"]  # no side file


def spellings(tmp_path: Path) -> dict[str, Path]:
    """One ledger file under every kind of name: real, symlink, hard link, `..`, relative."""
    real = tmp_path / "state" / "nightly.jsonl"
    real.parent.mkdir()
    real.write_text("")
    (tmp_path / "alias.jsonl").symlink_to("state/nightly.jsonl")
    (tmp_path / "chain.jsonl").symlink_to(tmp_path / "alias.jsonl")
    os.link(real, tmp_path / "hard.jsonl")
    return {
        "real": real,
        "symlink": tmp_path / "alias.jsonl",
        "symlink to a symlink": tmp_path / "chain.jsonl",
        "hard link": tmp_path / "hard.jsonl",
        "dot-dot": tmp_path / "state" / ".." / "state" / "nightly.jsonl",
        "relative": Path(os.path.relpath(real)),
    }


@pytest.mark.parametrize(
    "first", ["real", "symlink", "symlink to a symlink", "hard link", "dot-dot", "relative"]
)
def test_every_name_of_the_ledger_file_meets_the_same_lock(tmp_path: Path, first: str) -> None:
    names = spellings(tmp_path)
    with LedgerWriter.open(names[first], f"run-{first}"):
        for other, path in names.items():
            with pytest.raises(LedgerLocked, match=rf"held by run run-{first} \(pid "):
                LedgerWriter.open(path, f"run-{other}")
    for path in names.values():  # and all of them are free again
        with LedgerWriter.open(path, "later"):
            pass


def test_lock_held_by_another_process_then_freed_by_its_death(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    alias = tmp_path / "alias.jsonl"
    alias.symlink_to(path.name)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(alias)], stdout=subprocess.PIPE, text=True, env=env
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
    stale = holder_of(path)
    assert stale is not None and stale["run_id"] == "run-child"  # stale, yet no block
    with LedgerWriter.open(path, "run-parent") as w:
        assert w.state.records() == []
        now = holder_of(path)
        assert now is not None and now["run_id"] == "run-parent"


def test_a_hostile_holder_name_is_shown_escaped_and_bounded(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    with LedgerWriter.open(path, "run-a"):
        hostile = {"run_id": "\x1b]0;pwned\x07\r\u202e" + "x" * 2000, "pid": 1, "host": "h"}
        os.setxattr(path, HOLDER_XATTR, json.dumps({**hostile, "started": "\x1b[2J"}).encode())
        with pytest.raises(LedgerLocked) as info:
            LedgerWriter.open(path, "run-b")
    message = str(info.value)
    assert message.isprintable() and len(message) < 1000
    assert "held by run ?]0;pwned???xxx" in message


def test_without_extended_attributes_the_lock_still_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(*args: object) -> None:
        raise OSError(errno.ENOTSUP, "Operation not supported")

    monkeypatch.setattr(writer_module.os, "setxattr", unsupported)
    path = tmp_path / "ledger.jsonl"
    with (
        LedgerWriter.open(path, "run-a"),
        pytest.raises(LedgerLocked, match=r"is held by another run; wait for it"),
    ):
        LedgerWriter.open(tmp_path / "." / "ledger.jsonl", "run-b")


def test_a_ledger_renamed_over_while_opening_is_locked_as_the_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rewrite that renames a new file over the ledger between our open and our flock:
    the lock taken is on the old file, which nobody reads any more; open again."""
    path = tmp_path / "ledger.jsonl"
    path.write_text("")
    flock = writer_module.fcntl.flock
    renames = []

    def flock_after_a_rename(fd: int, op: int) -> None:
        if not renames:
            fresh = tmp_path / "rewritten.jsonl"
            fresh.write_text("")
            os.rename(fresh, path)
            renames.append(os.stat(path).st_ino)
        flock(fd, op)

    monkeypatch.setattr(writer_module.fcntl, "flock", flock_after_a_rename)
    with LedgerWriter.open(path, "r") as w:
        assert w._fd is not None and os.fstat(w._fd).st_ino == renames[0]


def test_a_planted_lock_symlink_is_never_followed(tmp_path: Path) -> None:
    """`F.lock -> victim`: the launcher writes nothing beside the ledger, so nothing is
    truncated through a link that someone planted there."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    path = tmp_path / "ledger.jsonl"
    (tmp_path / "ledger.jsonl.lock").symlink_to(victim)
    with LedgerWriter.open(path, "r"):
        assert victim.read_text() == "precious\n"
    assert victim.read_text() == "precious\n"
    assert os.readlink(tmp_path / "ledger.jsonl.lock") == str(victim)


def test_missing_folders_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "ledger.jsonl"
    with LedgerWriter.open(path, "r"):
        pass
    assert path.is_file() and os.listdir(path.parent) == ["ledger.jsonl"]


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


def test_a_fifo_or_a_device_as_the_ledger_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    null = tmp_path / "null.jsonl"
    null.symlink_to(os.devnull)  # would forget every session: a run after it sends again
    for path in (fifo, null):
        with pytest.raises(LedgerError, match=r"is not a regular file \(a FIFO, a device"):
            LedgerWriter.open(path, "r")
        with pytest.raises(LedgerError, match="is not a regular file"):
            read_state(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.jsonl", "null.jsonl"]
