"""A second terminal can watch: while `run --wait` holds the ledger, `watch`, `results`,
`ledger summary` and `ledger batches` work in other processes; `watch` follows read-only,
says so once, records nothing, and exits 0 when the batch ends well."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from launcher.sandbox.handle import SandboxHandle
from tests.support.runkit import (
    assert_no_secrets,
    launcher_cmd,
    launcher_env,
    read_ledger,
    run_launcher,
    start_launcher,
    write_manifest,
)

pytestmark = pytest.mark.slow


def test_a_second_watch_follows_while_run_wait_holds_the_ledger(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    env = launcher_env(sandbox.base_url)
    manifest = str(write_manifest(tmp_path / "m.yaml", 3, tags=("bulk", "sandbox:work=600")))
    ledger = tmp_path / "l.jsonl"
    holder = start_launcher(
        "run", manifest, "--ledger", str(ledger), "--wait", "--poll-interval", "0.5", env=env
    )
    watch_err = tmp_path / "watch.err"
    try:
        sessions = _created(ledger, holder, 3)
        # The ledger is held: the run watches sessions that work until told otherwise.
        summary = run_launcher("ledger", "summary", str(ledger), env=env)
        assert summary.returncode == 0 and "created 3" in summary.stdout, summary.stderr
        batches = run_launcher("ledger", "batches", str(ledger), env=env)
        assert batches.returncode == 0, batches.stderr
        assert "3 entries: 3 created, 0 failed, 0 pending" in batches.stdout
        results = run_launcher("results", manifest, "--ledger", str(ledger), env=env)
        assert results.returncode == 0 and len(results.stdout.splitlines()) == 3
        with watch_err.open("w") as err_file:
            watcher = subprocess.Popen(
                launcher_cmd("watch", "--ledger", str(ledger), "--poll-interval", "0.5"),
                env=env,
                stdout=subprocess.PIPE,
                stderr=err_file,
                text=True,
            )
        deadline = time.monotonic() + 60
        while "watching 3 sessions" not in watch_err.read_text():
            assert time.monotonic() < deadline and watcher.poll() is None, watch_err.read_text()
            time.sleep(0.1)
        assert holder.poll() is None, "the run still holds the ledger"
        for session in sessions:
            sandbox.control(session, status="finished")
        watched_out, _ = watcher.communicate(timeout=60)
    finally:
        out, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, err
    watched_err = watch_err.read_text()
    assert watcher.returncode == 0, watched_err
    assert "3 of 3 ended well (3 finished)" in watched_out
    notes = [x for x in watched_err.splitlines() if "following read-only" in x]
    assert len(notes) == 1 and "records nothing" in notes[0] and str(ledger) in notes[0]
    run_ids = {e["run_id"] for e in read_ledger(ledger)}
    assert len(run_ids) == 1, "only the holder wrote to the ledger"
    assert_no_secrets(watched_out, watched_err, out, err)


def _created(ledger: Path, holder: subprocess.Popen[str], n: int) -> list[str]:
    deadline = time.monotonic() + 60
    while True:
        sessions = [str(e["session_id"]) for e in _events(ledger) if e["event"] == "created"]
        if len(sessions) >= n:
            return sessions
        assert time.monotonic() < deadline and holder.poll() is None, "run --wait stalled"
        time.sleep(0.1)


def _events(ledger: Path) -> list[dict[str, object]]:
    try:
        return read_ledger(ledger)
    except (FileNotFoundError, ValueError):  # not there yet, or a line being written
        return []
