"""The duplicate check on a busy organisation, over the real sandbox: every create's answer
is lost, the listing ignores its tag filter and holds hundreds of other teams' sessions,
newer than ours. Each entry ends with exactly one session, recorded created (reconciled)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.runkit import (
    MakeSandbox,
    assert_no_secrets,
    launcher_env,
    read_ledger,
    run_launcher,
    write_manifest,
)


@pytest.mark.slow
def test_a_lost_answer_on_a_busy_listing_makes_no_duplicate(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    sb = make_sandbox(
        drop_rate=1.0,  # every create: the session is made, its answer lost
        list_ignores_tags=True,
        other_sessions=300,
        others_per_create=120,  # each of ours is followed by more than a page of others'
    )
    write_manifest(tmp_path / "m.yaml", 3)
    ledger = tmp_path / "ledger.jsonl"
    proc = run_launcher(
        "run",
        str(tmp_path / "m.yaml"),
        "--ledger",
        str(ledger),
        "--reconcile-delay",
        "0",
        "--concurrency",
        "1",
        env=launcher_env(sb.base_url),
    )
    assert_no_secrets(proc.stdout, proc.stderr, ledger.read_text())
    assert proc.returncode == 0, proc.stderr
    stats = sb.stats()
    assert stats["other_sessions"] == 300 + 3 * 120
    assert stats["sessions"] - stats["other_sessions"] == 3  # 0 duplicates
    assert stats["requests"] == 3  # each entry sent once
    assert stats["list_gets"] > 3  # the lookups paged past the first page
    events = read_ledger(ledger)
    made = [e for e in events if e["event"] == "created"]
    assert len(made) == 3 and all(e.get("reconciled") is True for e in made)
    ours = {s["session_id"] for s in sb.list_sessions() if "bulk" in s["tags"]}
    assert {e["session_id"] for e in made} == ours
