"""Exit codes that tell the truth: a signal outside the dispatch is 130 with a message (not
a silent 143), and a full disk says whether requests may have gone out (1) or not (2)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from launcher.cli import main
from launcher.ledger.read import read_state
from launcher.ledger.writer import HOLDER_XATTR
from tests.support.runkit import (
    MakeSandbox,
    assert_no_secrets,
    launcher_env,
    read_ledger,
    start_launcher,
    write_manifest,
)

BIG = 200_000  # lines: some seconds to read on a loaded machine, so a signal lands in it
LINE = (
    '{"v":1,"ts":"2026-11-29T08:30:00.000Z","event":"created","entry":"old.yaml#t%d",'
    '"name":"t%d","key":"k%d","run_id":"r1","content":"c","session_id":"devin-%d",'
    '"url":"https://app.devin.ai/sessions/%d","is_new_session":true}\n'
)


@pytest.fixture(scope="module")
def big_ledger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A big ledger of earlier sessions (none of this test's entries) and its digest."""
    path = tmp_path_factory.mktemp("big") / "big.jsonl"
    data = "".join(LINE % (i, i, i, i, i) for i in range(BIG)).encode()
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def read_offset(pid: int, path: Path) -> int | None:
    """How far process `pid` has read `path`, from /proc: None while it has not opened it."""
    offsets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != str(path):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                offsets += [int(x.split()[1]) for x in info if x.startswith("pos:")]
        except (OSError, ValueError):  # closed meanwhile
            continue
    return max(offsets) if offsets else None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.slow
def test_a_signal_while_reading_a_big_ledger_exits_130_with_a_message(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    big_ledger: tuple[Path, str],
    signum: signal.Signals,
) -> None:
    """SIGTERM before dispatch (reading a 600k-line ledger) gave 143 and no word."""
    path, digest = big_ledger
    size = path.stat().st_size
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 3)
    proc = start_launcher(
        "run", str(tmp_path / "m.yaml"), "--ledger", str(path), env=launcher_env(sb.base_url)
    )
    try:
        deadline, offset = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None:
            offset = read_offset(proc.pid, path)
            if offset:  # reading has begun
                break
            time.sleep(0.002)
        assert offset is not None and 0 < offset < size, "the signal must land in the read"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert err == f"launcher: interrupted by {signum.name}\n" and out == ""
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest  # untouched
    assert HOLDER_XATTR not in os.listxattr(path)  # and not left named as held
    assert sb.stats()["requests"] == 0


AFTER_DISPATCH = """
import os, signal, sys
from launcher.cli import main
from launcher.dispatch import run

dispatch_all = run.dispatch_all

async def then_sigterm(*args):
    result = await dispatch_all(*args)
    os.kill(os.getpid(), signal.SIGTERM)  # as if it came while the report is printed
    return result

run.dispatch_all = then_sigterm
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_sigterm_after_the_dispatch_exits_130_with_a_message(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    """The dispatch's own handlers leave SIGTERM at its default when they close, so a
    SIGTERM while the report was being printed killed the launcher silently (143)."""
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 2)
    ledger = tmp_path / "l.jsonl"
    command = ["run", str(tmp_path / "m.yaml"), "--ledger", str(ledger)]
    done = subprocess.run(
        [sys.executable, "-c", AFTER_DISPATCH, *command],
        env=launcher_env(sb.base_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 130, done.stderr
    assert done.stderr.endswith("launcher: interrupted by SIGTERM\n")
    assert [e["event"] for e in read_ledger(ledger)].count("created") == 2  # all recorded
    assert sb.stats()["sessions"] == 2
    assert_no_secrets(done.stdout, done.stderr, ledger.read_text())


@pytest.mark.slow
def test_a_disk_full_after_sessions_were_created_exits_1_not_2(
    tmp_path: Path,
    tiny_disk: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """This was exit 2, which the exit codes page says means that nothing was sent."""
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 200)
    ledger = tiny_disk / "l.jsonl"
    code = main(
        ["run", str(tmp_path / "m.yaml"), "--ledger", str(ledger), "--base-url", sb.base_url]
    )
    out, err = capsys.readouterr()
    assert sb.stats()["sessions"] > 0  # sessions were created before the disk filled
    assert code == 1
    assert err.endswith(
        f"launcher: error: cannot write ledger {ledger}: the disk is full; free some space "
        "and run again; requests of this run may have been sent: the next run skips what "
        "is recorded created and looks up what was in flight\n"
    )
    assert "Traceback" not in err
    assert_no_secrets(out, err)
    assert [r for r in read_state(ledger).records() if r.outcome == "created"]


def test_a_disk_full_before_anything_was_sent_exits_2(
    tmp_path: Path,
    tiny_disk: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Exit 2 keeps its promise: the first intent could not be written, so nothing left."""
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 5)
    filler = os.open(tiny_disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError, match="No space left"):
            while True:  # fill the disk to its last byte
                os.write(filler, b"x" * 512)
    finally:
        os.close(filler)
    ledger = tiny_disk / "l.jsonl"
    code = main(
        ["run", str(tmp_path / "m.yaml"), "--ledger", str(ledger), "--base-url", sb.base_url]
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert err.endswith(
        f"launcher: error: cannot write ledger {ledger}: the disk is full; free some space "
        "and run again\n"
    )
    assert sb.stats()["requests"] == 0
    assert_no_secrets(out, err)
