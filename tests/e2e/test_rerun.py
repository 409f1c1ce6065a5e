"""`launcher rerun`: one new session for each entry whose session ended as asked, exactly
once, even when the rerun itself is killed (SIGKILL) at seeded moments and run again.

Real launcher processes; one sandbox on 127.0.0.1 for the module, reset before each test.
Every session works for the whole test unless a test makes it expire.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from launcher.sandbox.handle import SandboxHandle
from launcher.sandbox.server import running_sandbox
from tests.support.fixtures import FIXTURE_CONFIG
from tests.support.runkit import (
    assert_no_secrets,
    created,
    launcher_env,
    read_ledger,
    run_launcher,
    start_launcher,
    write_manifest,
)

pytestmark = pytest.mark.slow

# Every answer takes a moment, so that a kill can land while a create is in flight.
LATENCY_MS = 250


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[SandboxHandle]:
    config = replace(FIXTURE_CONFIG, work_seconds=3600.0, latency_ms=LATENCY_MS)
    with running_sandbox(config) as handle:
        yield handle


@pytest.fixture
def sb(module_sandbox: SandboxHandle) -> SandboxHandle:
    module_sandbox.reset()
    return module_sandbox


def _batch_with_two_expired(tmp_path: Path, sb: SandboxHandle) -> tuple[Path, Path, list[str]]:
    """A batch of 6 created sessions, of which the first two expired."""
    folder = tmp_path / "m"
    write_manifest(folder / "m.yaml", 6)
    ledger = tmp_path / "l.jsonl"
    ran = run_launcher("run", str(folder), "--ledger", str(ledger), env=launcher_env(sb.base_url))
    assert ran.returncode == 0, ran.stderr
    ids = created(read_ledger(ledger))
    expired = [ids["m.yaml#task-0"], ids["m.yaml#task-1"]]
    for sid in expired:
        sb.control(sid, status="expired")
    return folder, ledger, expired


def _rerun(folder: Path, ledger: Path, *extra: str) -> tuple[str, ...]:
    return ("rerun", str(folder), "--ledger", str(ledger), "--status", "expired", *extra)


def test_rerun_gives_the_two_expired_entries_one_new_session_each_and_then_none(
    tmp_path: Path, sb: SandboxHandle
) -> None:
    folder, ledger, expired = _batch_with_two_expired(tmp_path, sb)
    env = launcher_env(sb.base_url)

    preview = run_launcher(*_rerun(folder, ledger, "--dry-run"), env=env)
    assert preview.returncode == 0, preview.stderr
    assert preview.stdout.count("would rerun") == 2 and expired[0] in preview.stdout
    assert "2 entries would get a new session; nothing sent" in preview.stdout
    assert sb.stats()["sessions"] == 6

    first = run_launcher(*_rerun(folder, ledger), env=env)
    assert first.returncode == 0, first.stderr
    assert "2 created" in first.stdout
    assert f"rerun m.yaml#task-0: session {expired[0]} expired" in first.stderr
    assert sb.stats()["sessions"] == 8

    again = run_launcher(*_rerun(folder, ledger), env=env)
    assert again.returncode == 0, again.stderr
    assert "0 created" in again.stdout
    assert "nothing to rerun" in again.stderr
    stats = sb.stats()
    assert stats["sessions"] == 8 and stats["duplicate_bodies"] == 0

    # The old sessions stay in the ledger's history; what follows follows the new ones.
    events = read_ledger(ledger)
    assert sorted(e["rerun_of"] for e in events if e["event"] == "sending" and "rerun" in e) == (
        sorted(expired)
    )
    shown = run_launcher("results", str(folder), "--ledger", str(ledger), "--format", "jsonl",
                         env=env)  # fmt: skip
    records = {r["entry"]: r for r in map(json.loads, shown.stdout.splitlines())}
    assert len(records) == 6
    new = {records[f"m.yaml#task-{i}"]["session_id"] for i in (0, 1)}
    assert not new & set(expired) and len(new) == 2
    assert all(r["status"] == "working" for r in records.values())
    for done in (preview, first, again, shown):
        assert_no_secrets(done.stdout, done.stderr)


def _wait_for_rerun_line(ledger: Path, ended: Callable[[], int | None], deadline: float) -> bool:
    """True once the rerun's first `sending` is on disk; False if the process ended first."""
    while time.monotonic() < deadline:
        if '"rerun":1' in ledger.read_text():
            return True
        if ended() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError("the rerun sent nothing within 30 s")


# Seeded kill moments, 0.10 s and 0.47 s after the first intent is on disk: with the first
# rerun's create in flight, and (about) with the first recorded and the second in flight
# (a kill after both were recorded leaves nothing to resume: the test above covers it).
@pytest.mark.parametrize("seed", [1, 5])
def test_a_rerun_killed_at_a_seeded_moment_and_run_again_creates_no_duplicate(
    tmp_path: Path, sb: SandboxHandle, seed: int
) -> None:
    folder, ledger, expired = _batch_with_two_expired(tmp_path, sb)
    env = launcher_env(sb.base_url)
    # --timeout 1: the rerun after the kill waits out the killed one's request that long.
    args = _rerun(folder, ledger, "--timeout", "1", "--reconcile-delay", "0.05")
    proc = start_launcher(*args, env=env)
    sent = _wait_for_rerun_line(ledger, proc.poll, time.monotonic() + 30)
    # The moment: from right after the first intent is on disk to after both answers.
    time.sleep(random.Random(seed).uniform(0, 3 * LATENCY_MS / 1000))
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert sent

    resumed = run_launcher(*args, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    stats = sb.stats()
    assert stats["sessions"] == 8, stats  # 6, and one new session for each expired entry
    assert stats["duplicate_bodies"] == 0
    ids = created(read_ledger(ledger))  # each entry's latest session: all alive, none old
    assert len(ids) == 6 and not set(ids.values()) & set(expired)
    assert "finishing the rerun an earlier one began" in resumed.stderr or (
        "nothing to rerun" in resumed.stderr  # killed after both were recorded
    )
    assert_no_secrets(resumed.stdout, resumed.stderr, ledger.read_text())
