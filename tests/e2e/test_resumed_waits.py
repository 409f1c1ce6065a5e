"""Waits read back from the ledger are bounded like in-run waits: a resumed 429 that asked
for a day, or an earlier request's enormous --timeout, never holds the lock for it; absurd
values are damage at their line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.runkit import (
    MakeSandbox,
    launcher_env,
    read_ledger,
    run_launcher,
    write_manifest,
)

pytestmark = pytest.mark.slow


def test_a_resumed_day_long_retry_after_is_not_waited_out(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    sb = make_sandbox(rate=0.0001, burst=1, retry_after=86400)
    env = launcher_env(sb.base_url)
    manifest, ledger = write_manifest(tmp_path / "m.yaml", 2), tmp_path / "l.jsonl"
    args = ("run", str(manifest), "--ledger", str(ledger), "--max-wait", "5", "--timeout", "5")
    first = run_launcher(*args, env=env)
    assert first.returncode == 1, first.stderr
    # As if the run had been killed while it waited: the last line of the entry is the
    # throttled one, with its retry_at a day away.
    kept = [e for e in read_ledger(ledger) if "more than --max-wait" not in (e.get("error") or "")]
    ledger.write_text("".join(json.dumps(e) + "\n" for e in kept))
    throttled = [e for e in kept if e.get("retry_at")]
    assert len(throttled) == 1 and kept[-1] == throttled[0]
    before = sb.stats()["requests"]
    started = time.monotonic()
    second = run_launcher(*args, env=env, timeout=60)  # before: waited the whole day
    assert time.monotonic() - started < 60
    assert second.returncode == 1, second.stderr
    assert "more than --max-wait 5s; not sent" in second.stdout + second.stderr
    assert sb.stats()["requests"] == before  # nothing sent before its Retry-After
    assert read_ledger(ledger)[-1] == throttled[-1]  # the wait still holds for the next run


def test_an_earlier_requests_enormous_timeout_is_not_waited_out(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    sb = make_sandbox()
    env = launcher_env(sb.base_url)
    manifest, ledger = write_manifest(tmp_path / "m.yaml", 1), tmp_path / "l.jsonl"
    args = ("run", str(manifest), "--ledger", str(ledger), "--max-wait", "5")
    assert run_launcher(*args, env=env).returncode == 0
    sending = next(e for e in read_ledger(ledger) if e["event"] == "sending")
    # Its session exists: the lookup finds it, at once.
    ledger.write_text(json.dumps({**sending, "timeout": 1e9}) + "\n")
    assert run_launcher(*args, env=env, timeout=60).returncode == 0
    # Another entry's, which the server never received: not waited for, not sent.
    other = write_manifest(tmp_path / "n.yaml", 1, prefix="other")
    args = ("run", str(other), "--ledger", str(ledger), "--max-wait", "5")
    planned = run_launcher("plan", str(other), "--format", "json", "--ledger", str(ledger), env=env)
    entry = json.loads(planned.stdout)["entries"][0]
    ghost = {**sending, "timeout": 1e9, "entry": entry["entry"], "name": entry["name"]}
    ghost["key"] = entry["key"]
    ledger.write_text(json.dumps(ghost) + "\n")
    started = time.monotonic()
    resumed = run_launcher(*args, env=env, timeout=60)  # before: waited 1e9 s
    assert time.monotonic() - started < 60
    assert resumed.returncode == 1, resumed.stderr
    assert "its --timeout), more than --max-wait 5s" in resumed.stdout + resumed.stderr
    assert sb.stats()["sessions"] == 1
    for absurd in ('"timeout":1e999', '"timeout":-1'):
        line = json.dumps(sending).replace(f'"timeout": {sending["timeout"]}', absurd)
        ledger.write_text(line + "\n")
        damaged = run_launcher(*args, env=env)
        assert damaged.returncode == 2
        assert "damaged at line 1: field 'timeout' is not a positive finite" in damaged.stderr
    failed = {**ghost, "event": "failed", "retry_at": "2099-01-01T00:00:00.000Z"}
    del failed["timeout"], failed["attempt"]
    ledger.write_text(json.dumps(failed) + "\n")
    far = run_launcher(*args, env=env, timeout=60)
    assert far.returncode == 1
    assert "wait until 2099-01-01T00:00:00.000Z" in far.stdout + far.stderr
    assert sb.stats()["sessions"] == 1
