"""Chaos: 20% 500s, 10% dropped responses, a rate limit, and the launcher SIGKILLed at ten
seeded moments, resumed each time, then a final run. Seeded and bounded (well under 90 s).

Invariants after every step: the ledger parses; no entry has two sessions on the
sandbox. At the end: every entry created, nothing in doubt, zero duplicate bodies.
"""

from __future__ import annotations

import collections
import random
import signal
import time
from pathlib import Path

import pytest

from launcher.entry import TAG_PREFIX
from launcher.ledger.read import read_state
from launcher.sandbox.handle import SandboxHandle
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

SEED = 20261129
KILLS = 10
PLAIN, IDEMPOTENT = 30, 20


def _sessions_per_key(sb: SandboxHandle) -> collections.Counter[str]:
    per_key: collections.Counter[str] = collections.Counter()
    for session in sb.list_sessions():
        keys = [t for t in session["tags"] if t.startswith(TAG_PREFIX)]
        assert len(keys) == 1, session
        per_key[keys[0]] += 1
    return per_key


def _check_invariants(sb: SandboxHandle, ledger: Path) -> None:
    if ledger.exists():
        read_state(ledger)  # parses: torn tails are tolerated, damage would raise
        read_ledger_lines = ledger.read_text().splitlines()
        assert all(line.strip() for line in read_ledger_lines[:-1])
    duplicates = {k: n for k, n in _sessions_per_key(sb).items() if n > 1}
    assert not duplicates, f"entries with two sessions: {duplicates}"
    assert sb.stats()["duplicate_bodies"] == 0


@pytest.mark.slow
def test_chaos_kill_9_ten_times_then_finish_exactly_once(
    tmp_path: Path, sandbox_process: MakeSandboxProcess
) -> None:
    rng = random.Random(SEED)
    sb = sandbox_process(fail_rate=0.2, drop_rate=0.1, rate=40.0, burst=4, latency_ms=40, seed=SEED)
    folder = tmp_path / "manifests"
    write_manifest(folder / "plain.yaml", PLAIN, prefix="plain")
    write_manifest(folder / "nested" / "idem.yaml", IDEMPOTENT, prefix="idem", idempotent=True)
    ledger = tmp_path / "chaos.jsonl"
    args = (
        "run",
        str(folder),
        "--ledger",
        str(ledger),
        "--concurrency",
        "6",
        "--reconcile-delay",
        "0.05",
        "--timeout",
        "2",
        "--max-attempts",
        "20",
        "--max-wait",
        "2",
    )
    env = launcher_env(sb.base_url)
    outputs: list[str] = []
    started = time.monotonic()

    for _ in range(KILLS):
        proc = start_launcher(*args, env=env)
        time.sleep(rng.uniform(0.4, 1.6))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        outputs += [out, err]
        _check_invariants(sb, ledger)

    final = run_launcher(*args, env=env, timeout=60)
    outputs += [final.stdout, final.stderr]
    assert final.returncode == 0, final.stdout + final.stderr
    _check_invariants(sb, ledger)

    events = read_ledger(ledger)
    ids = created(events)
    assert len(ids) == PLAIN + IDEMPOTENT  # every entry created
    assert len(set(ids.values())) == PLAIN + IDEMPOTENT  # each its own session
    state = read_state(ledger)
    assert not [r for r in state.records() if r.outcome != "created"]  # nothing in doubt
    per_key = _sessions_per_key(sb)
    assert len(per_key) == PLAIN + IDEMPOTENT and set(per_key.values()) == {1}
    stats = sb.stats()
    assert stats["failed"] > 0 and stats["dropped"] > 0  # the chaos really happened
    assert_no_secrets(*outputs, ledger.read_text())
    assert time.monotonic() - started < 90
