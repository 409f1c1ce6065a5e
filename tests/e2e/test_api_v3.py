"""The whole flow against the sandbox's API v3 side, with a service-user key (`cog_…`) and
DEVIN_ORG_ID: nothing changes from the user's side, and results carry ACUs and every PR.

Real launcher processes, the real sandbox on 127.0.0.1.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.support.runkit import (
    SECRET,
    MakeSandbox,
    MakeSandboxProcess,
    assert_no_secrets,
    created,
    launcher_env,
    read_ledger,
    run_launcher,
    start_launcher,
    write_manifest,
)

pytestmark = pytest.mark.slow
COG = "cog_e2e_SERVICEUSERKEY_123456"
ORG = "org-e2e"


def _env(base_url: str) -> dict[str, str]:
    return launcher_env(base_url, DEVIN_API_KEY=COG, DEVIN_ORG_ID=ORG)


def _limited(path: Path, count: int) -> Path:
    # 1 s of work, then a woken session works the sandbox's 30 s: `cancel` finds it working
    write_manifest(path, count, tags=("bulk", "sandbox:work=1"))
    text = path.read_text().replace("defaults:\n", "defaults:\n  max_acu_limit: 4\n")
    path.write_text(text)
    return path


def test_validate_plan_run_wait_results_message_cancel_on_v3(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    sb = make_sandbox(work_seconds=30.0)
    folder = tmp_path / "m"
    _limited(folder / "m.yaml", 6)
    ledger = str(tmp_path / "l.jsonl")
    env = _env(sb.base_url)
    assert run_launcher("validate", str(folder), env=env).returncode == 0
    planned = run_launcher("plan", str(folder), "--ledger", ledger, env=env)
    assert planned.returncode == 0 and planned.stdout.count("create") >= 6, planned.stdout
    ran = run_launcher("run", str(folder), "--ledger", ledger, "--wait", "--max-active", "2",
                       "--poll-interval", "0.5", env=env)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "6 of 6 ended well" in ran.stdout + ran.stderr
    assert "consumed by 6 sessions" in ran.stdout + ran.stderr  # the batch's ACUs
    # the manifest says `idempotent: false`, which v3 has not: one warning, never sent (the
    # sandbox's v3 side answers 422 to a body that carries it)
    assert ran.stderr.count("idempotent exists only in the API v1: not sent to v3") == 1
    stats = sb.stats()
    assert stats["sessions"] == 6 and stats["duplicate_bodies"] == 0

    results = run_launcher("results", str(folder), "--ledger", ledger, "--format", "jsonl",
                           env=env)  # fmt: skip
    assert results.returncode == 0, results.stderr
    records = [json.loads(line) for line in results.stdout.splitlines()]
    assert len(records) == 6
    assert all(r["status"] == "finished" for r in records)
    assert all(0 < r["acus_consumed"] <= 4 for r in records)
    assert sum(len(r["pull_requests"]) for r in records) == 8  # every third session has two
    assert all(r["pull_request_url"] == r["pull_requests"][0] for r in records)

    # One session expires (v3: suspended for inactivity, shown as sleeping): `rerun` gives
    # its entry one new session, once; everything below follows the new one.
    sleepy = created(read_ledger(Path(ledger)))["m.yaml#task-0"]
    sb.control(sleepy, status="expired")
    rerun = ("rerun", str(folder), "--ledger", ledger, "--status", "sleeping")
    reran = run_launcher(*rerun, env=env)
    assert reran.returncode == 0 and "1 created" in reran.stdout, reran.stdout + reran.stderr
    assert "0 created" in run_launcher(*rerun, env=env).stdout
    assert sb.stats()["sessions"] == 7
    assert created(read_ledger(Path(ledger)))["m.yaml#task-0"] != sleepy

    told = run_launcher("message", str(folder), "--ledger", ledger, "--text", "add tests too",
                        env=env)  # fmt: skip
    assert told.returncode == 0, told.stdout + told.stderr
    assert sb.stats()["messages"] == 6
    cancelled = run_launcher("cancel", str(folder), "--ledger", ledger, env=env)
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert "6 terminated" in cancelled.stdout, cancelled.stdout
    assert sb.stats()["deletes"] == 6
    for done in (planned, ran, results, reran, told, cancelled):
        assert_no_secrets(done.stdout, done.stderr)
        assert COG not in done.stdout + done.stderr
    assert SECRET not in Path(ledger).read_text() and COG not in Path(ledger).read_text()
    # the ledger says the sessions live in the API v3 of the organisation
    assert all(e["api"]["generation"] == "v3" and e["api"]["org"] == ORG
               for e in read_ledger(Path(ledger)) if "api" in e)  # fmt: skip


def test_kill_9_then_resume_on_v3_creates_each_entry_once(
    tmp_path: Path, sandbox_process: MakeSandboxProcess
) -> None:
    """v3 has no `idempotent`: exactly once rests on the ledger's intent and the lookup."""
    sb = sandbox_process(latency_ms=120, api_key=None)
    folder = tmp_path / "m"
    write_manifest(folder / "m.yaml", 30)
    ledger = tmp_path / "l.jsonl"
    args = ("run", str(folder), "--ledger", str(ledger), "--concurrency", "6",
            "--reconcile-delay", "0.05", "--timeout", "3")  # fmt: skip
    env = _env(sb.base_url)
    proc = start_launcher(*args, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ledger.exists() and ledger.read_text().count('"event":"created"') >= 8:
            break
        assert proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    resume = run_launcher(*args, env=env)
    assert resume.returncode == 0, resume.stdout + resume.stderr
    assert len(created(read_ledger(ledger))) == 30
    stats = sb.stats()
    assert stats["sessions"] == 30 and stats["duplicate_bodies"] == 0


def test_a_poll_of_450_sessions_costs_ceil_unsettled_over_200_plus_one(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    sb = make_sandbox(work_seconds=3600.0)  # every session works for the whole test
    folder = tmp_path / "m"
    write_manifest(folder / "m.yaml", 450, secret=False)
    ledger = str(tmp_path / "l.jsonl")
    env = _env(sb.base_url)
    ran = run_launcher("run", str(folder), "--ledger", ledger, "--concurrency", "16", env=env)
    assert ran.returncode == 0, ran.stderr
    before = sb.stats()
    watched = run_launcher("watch", str(folder), "--ledger", ledger, "--timeout", "3",
                           "--poll-interval", "20", "--format", "json", env=env)  # fmt: skip
    after = sb.stats()
    assert watched.returncode == 1  # still working when watching stopped
    lists = after["list_gets"] - before["list_gets"]
    gets = after["single_gets"] - before["single_gets"]
    assert (lists, gets) == (3, 0), watched.stdout[-2000:]  # ceil(450/200) = 3 <= 3 + 1
    assert lists <= -(-450 // 200) + 1
