"""`run --wait` and signals, for real: the launcher in a child process, real SIGINTs, the
real sandbox over loopback. The first Ctrl-C starts nothing new and keeps watching; the
second terminates the active sessions of the run's entries, as `cancel` does, and
records it."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from launcher.sandbox.handle import SandboxHandle
from tests.support.runkit import (
    assert_no_secrets,
    launcher_env,
    read_ledger,
    start_launcher,
    write_follow_manifest,
)

pytestmark = pytest.mark.slow


def _deletes(handle: SandboxHandle) -> int:
    return int(httpx.get(f"{handle.base_url}/_sandbox/stats", timeout=10).json()["deletes"])


def _wait_for(ledger: Path, ready: Callable[[list[dict[str, object]]], bool]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ledger.exists() and ready(read_ledger(ledger)):
            return
        time.sleep(0.1)
    raise AssertionError(f"the ledger never got there: {ledger.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_second_ctrl_c_during_run_wait_terminates_the_active_sessions(
    tmp_path: Path, make_sandbox: Callable[..., SandboxHandle]
) -> None:
    handle = make_sandbox()
    env = launcher_env(handle.base_url)
    specs = [("quick", ("sandbox:work=0.2", "sandbox:end=finished"))]
    specs += [(f"long-{i}", ("sandbox:work=300",)) for i in range(3)]
    manifest, ledger = write_follow_manifest(tmp_path / "m.yaml", specs), tmp_path / "l.jsonl"
    proc = start_launcher(
        "run", str(manifest), "--ledger", str(ledger), "--wait", "--poll-interval", "0.5", env=env
    )
    try:
        # Watching: `quick` has been seen finished, the long ones working.
        _wait_for(
            ledger,
            lambda evs: any(
                e["event"] == "status" and e.get("status_enum") == "finished" for e in evs
            ),
        )
        proc.send_signal(signal.SIGINT)
        time.sleep(2.0)
        assert proc.poll() is None, "the first Ctrl-C must not end the watch"
        assert _deletes(handle) == 0
        proc.send_signal(signal.SIGINT)
        out, err = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "starting nothing new" in err and "terminating the 3 active sessions" in err
    assert "3 terminated, 0 had already exited, 0 failed" in err
    assert _deletes(handle) == 3
    events = read_ledger(ledger)
    cancelled = sorted(str(e["name"]) for e in events if e["event"] == "cancelled")
    assert cancelled == ["long-0", "long-1", "long-2"]
    assert "m.yaml#long-0  cancelled" in out  # the summary counts them as not ended well
    assert_no_secrets(out, err, ledger.read_text())


def test_ctrl_c_during_the_dispatch_then_again_terminates_what_was_created(
    tmp_path: Path, make_sandbox: Callable[..., SandboxHandle]
) -> None:
    handle = make_sandbox(latency_ms=300)
    env = launcher_env(handle.base_url)
    specs = [(f"long-{i}", ("sandbox:work=300",)) for i in range(12)]
    manifest, ledger = write_follow_manifest(tmp_path / "m.yaml", specs), tmp_path / "l.jsonl"
    proc = start_launcher(
        "run",
        str(manifest),
        "--ledger",
        str(ledger),
        "--concurrency",
        "1",
        "--wait",
        "--poll-interval",
        "0.5",
        env=env,
    )
    try:
        _wait_for(ledger, lambda evs: sum(e["event"] == "created" for e in evs) >= 2)
        proc.send_signal(signal.SIGINT)  # starts nothing new; then watches what was created
        time.sleep(3.0)
        assert proc.poll() is None, "with --wait, the first Ctrl-C keeps watching"
        proc.send_signal(signal.SIGINT)
        out, err = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    events = read_ledger(ledger)
    created = {str(e["name"]) for e in events if e["event"] == "created"}
    cancelled = {str(e["name"]) for e in events if e["event"] == "cancelled"}
    assert 2 <= len(created) < 12, "the first Ctrl-C stops new starts"
    assert cancelled == created and _deletes(handle) == len(created)
    assert_no_secrets(out, err, ledger.read_text())
