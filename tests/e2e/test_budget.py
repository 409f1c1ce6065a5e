"""`run --max-acus N`: no session starts while the ACUs consumed plus the max_acu_limit of
the sessions still working would pass N; the run says which entries the budget left
unstarted and exits 1. The sandbox's own count of ACUs is the judge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.runkit import (
    MakeSandbox,
    launcher_env,
    read_ledger,
    run_launcher,
    write_manifest,
)

COG = "cog_e2e_BUDGETKEY_12345678"


def _budgeted(path: Path, count: int, limit: int | None) -> None:
    write_manifest(path, count, tags=("bulk", "sandbox:work=1"))
    if limit is not None:
        path.write_text(
            path.read_text().replace("defaults:\n", f"defaults:\n  max_acu_limit: {limit}\n")
        )


@pytest.mark.slow
def test_a_budget_of_10_with_limits_of_4_never_passes_10_acus(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    sb = make_sandbox(acus_per_second=1.0)
    _budgeted(tmp_path / "m" / "m.yaml", 12, 4)
    ledger = tmp_path / "l.jsonl"
    env = launcher_env(sb.base_url, DEVIN_API_KEY=COG, DEVIN_ORG_ID="org-budget")
    done = run_launcher("run", str(tmp_path / "m"), "--ledger", str(ledger), "--max-acus", "10",
                        "--max-active", "4", "--poll-interval", "0.3", env=env)  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    stats = sb.stats()
    assert stats["acus_consumed"] <= 10, stats
    started = stats["sessions"]
    assert 2 <= started < 12
    assert f"--max-acus 10) stopped the batch: {12 - started} entries left unstarted" in said
    created = {e["entry"] for e in read_ledger(ledger) if e["event"] == "created"}
    unstarted = [f"m.yaml#task-{i}" for i in range(12) if f"m.yaml#task-{i}" not in created]
    assert len(unstarted) == 12 - started and all(name in said for name in unstarted)
    results = run_launcher("results", str(tmp_path / "m"), "--ledger", str(ledger), "--format",
                           "jsonl", env=env)  # fmt: skip
    spent = [json.loads(line)["acus_consumed"] for line in results.stdout.splitlines()]
    assert sum(a for a in spent if a is not None) <= 10


@pytest.mark.slow
def test_an_entry_without_max_acu_limit_under_a_budget_is_exit_2(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    sb = make_sandbox()
    _budgeted(tmp_path / "m" / "m.yaml", 3, None)
    done = run_launcher("run", str(tmp_path / "m"), "--ledger", str(tmp_path / "l"),
                        "--max-acus", "10", env=launcher_env(sb.base_url))  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--max-acus needs a max_acu_limit on every entry" in done.stderr
    assert "m.yaml#task-0" in done.stderr
    assert sb.stats()["requests"] == 0
