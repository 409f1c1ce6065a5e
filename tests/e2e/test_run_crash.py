"""The launcher really dies (SIGKILL) or is stopped (SIGTERM) mid-run; a resume finishes.

The sandbox runs in its own process so that it outlives the launcher; the launcher is a
subprocess so that it can be killed for real.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.runkit import (
    MakeSandboxProcess,
    assert_no_secrets,
    created,
    launcher_env,
    read_ledger,
    run_launcher,
    start_launcher,
    write_manifest,
)

pytestmark = pytest.mark.slow  # each kills or signals a real launcher: seconds apiece


def _wait_for_created(ledger: Path, count: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ledger.exists() and ledger.read_text().count('"event":"created"') >= count:
            return
        assert proc.poll() is None, "the launcher ended before it could be stopped"
        time.sleep(0.02)
    raise AssertionError("the launcher created too little in 30 s")


def _manifests(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    write_manifest(folder / "plain.yaml", 24, prefix="plain")
    write_manifest(folder / "idem.yaml", 16, prefix="idem", idempotent=True)
    return folder


def test_kill_9_mid_run_then_resume_creates_each_entry_once(
    tmp_path: Path, sandbox_process: MakeSandboxProcess
) -> None:
    sb = sandbox_process(latency_ms=120)
    folder = _manifests(tmp_path)
    ledger = tmp_path / "ledger.jsonl"
    args = (
        "run",
        str(folder),
        "--ledger",
        str(ledger),
        "--concurrency",
        "6",
        "--reconcile-delay",
        "0.05",
        "--timeout",  # the resume waits out requests the killed run left in flight
        "3",
    )
    env = launcher_env(sb.base_url)
    proc = start_launcher(*args, env=env)
    _wait_for_created(ledger, 10, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    before = read_ledger(ledger)  # parses: no torn line survives a kill between writes
    assert 10 <= len(created(before)) < 40

    resume = run_launcher(*args, env=env)
    assert resume.returncode == 0, resume.stderr
    events = read_ledger(ledger)
    ids = created(events)
    assert len(ids) == 40
    stats = sb.stats()
    assert stats["duplicate_bodies"] == 0
    assert stats["sessions"] == 40  # idempotent twins return the existing session
    assert len(set(ids.values())) == 40
    assert_no_secrets(resume.stdout, resume.stderr, ledger.read_text())


def test_sigterm_drains_exits_130_and_a_resume_finishes(
    tmp_path: Path, sandbox_process: MakeSandboxProcess
) -> None:
    sb = sandbox_process(latency_ms=120)
    folder = _manifests(tmp_path)
    ledger = tmp_path / "ledger.jsonl"
    args = ("run", str(folder), "--ledger", str(ledger), "--concurrency", "4")
    env = launcher_env(sb.base_url)
    proc = start_launcher(*args, env=env)
    _wait_for_created(ledger, 8, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "SIGTERM" in err
    events = read_ledger(ledger)
    # Drained: every request that was sent has its answer recorded.
    sent = {e["entry"] for e in events if e["event"] == "sending"}
    settled = {e["entry"] for e in events if e["event"] in ("created", "failed", "in_doubt")}
    assert sent == settled
    assert len(created(events)) < 40
    assert "not attempted" in out
    assert_no_secrets(out, err, ledger.read_text())

    resume = run_launcher(*args, env=env)
    assert resume.returncode == 0, resume.stderr
    assert len(created(read_ledger(ledger))) == 40
    assert sb.stats()["sessions"] == 40
    assert sb.stats()["duplicate_bodies"] == 0


def test_a_resume_right_after_a_kill_still_waits_out_the_retry_after(
    tmp_path: Path, sandbox_process: MakeSandboxProcess
) -> None:
    # One request a second; every 429 says Retry-After 3.
    sb = sandbox_process(rate=1.0, burst=1, retry_after=3.0)
    write_manifest(tmp_path / "m.yaml", 4, idempotent=True)
    ledger = tmp_path / "ledger.jsonl"
    args = ("run", str(tmp_path), "--ledger", str(ledger), "--concurrency", "4")
    env = launcher_env(sb.base_url)
    proc = start_launcher(*args, env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # until the throttles are on disk
        if ledger.exists() and ledger.read_text().count('"retry_at"') >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert sb.stats()["rate_limited"] >= 3

    resume = run_launcher(*args, env=env)
    assert resume.returncode == 0, resume.stderr
    assert len(created(read_ledger(ledger))) == 4
    stats = sb.stats()
    assert stats["early_retries"] == 0  # the new process honoured the old Retry-After
    assert stats["sessions"] == 4


def test_a_second_signal_aborts_at_once_and_the_next_run_reconciles(
    tmp_path: Path, sandbox_process: MakeSandboxProcess
) -> None:
    # Every answer takes 10 s: a graceful drain would wait for them.
    sb = sandbox_process(latency_ms=10_000)
    # The first request goes alone; its answer opens the pace's window to two at once.
    write_manifest(tmp_path / "m.yaml", 3)
    ledger = tmp_path / "ledger.jsonl"
    args = ("run", str(tmp_path), "--ledger", str(ledger), "--concurrency", "4")
    proc = start_launcher(*args, env=launcher_env(sb.base_url))
    deadline = time.monotonic() + 40
    while sb.stats()["in_flight"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert proc.poll() is None  # the first signal drains: the requests are still out
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert time.monotonic() - started < 5  # not the 10 s the drain would have taken
    assert "2 cut off in flight" in out and "aborting the requests in flight" in err
    events = read_ledger(ledger)
    settled = [e for e in events if e["event"] != "sending"]
    assert [e["event"] for e in settled] == ["created"]  # the probe; the 2 in flight not
    assert_no_secrets(out, err, ledger.read_text())


def test_a_stop_under_a_pace_sends_nothing_more(
    tmp_path: Path, sandbox_process: MakeSandboxProcess
) -> None:
    sb = sandbox_process()
    write_manifest(tmp_path / "m.yaml", 30)
    ledger = tmp_path / "ledger.jsonl"
    args = ("run", str(tmp_path), "--ledger", str(ledger), "--concurrency", "4", "--rate", "4")
    proc = start_launcher(*args, env=launcher_env(sb.base_url))
    deadline = time.monotonic() + 20
    while sb.stats()["requests"] < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    at_signal = sb.stats()["requests"]
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    # Workers queued on the pace (4 slots at 4/s) would have kept sending for a second.
    assert sb.stats()["requests"] <= at_signal + 1
    assert "not attempted" in out
