"""Quiet nights: a run with nothing to send says so in one line and never "dispatching";
`run --wait` says nothing about a concurrent-session limit it never met."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.runkit import MakeSandbox, launcher_env, run_launcher, write_manifest


@pytest.mark.slow
def test_a_run_with_nothing_to_send_is_one_line(tmp_path: Path, make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox(work_seconds=0.5)
    manifest = write_manifest(tmp_path / "m.yaml", 3)
    env = launcher_env(sb.base_url)
    ledger = ["--ledger", str(tmp_path / "l.jsonl")]

    first = run_launcher("run", str(manifest), *ledger, "--wait", "--poll-interval", "0.2", env=env)
    assert first.returncode == 0, first.stderr
    assert "dispatching" in first.stderr
    assert "concurrent-session" not in first.stdout + first.stderr  # no limit was met

    again = run_launcher("run", str(manifest), *ledger, env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    [line] = again.stderr.splitlines()
    assert "nothing to send: all 3 entries of batch " in line and "have sessions" in line
    assert "dispatching" not in line
    assert sb.stats()["requests"] == 3  # nothing was sent the second time


@pytest.mark.slow
def test_a_quiet_night_in_json_reports_every_entry_skipped_with_its_session(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    """Answered from the ledger alone (no dispatcher, no request): the same document a
    dispatch that skips every entry would print."""
    sb = make_sandbox()
    manifest = write_manifest(tmp_path / "m.yaml", 3)
    env = launcher_env(sb.base_url)
    ledger = ["--ledger", str(tmp_path / "l.jsonl")]
    first = run_launcher("run", str(manifest), *ledger, "--format", "json", env=env)
    assert first.returncode == 0, first.stderr
    created = {e["entry"]: (e["session_id"], e["url"]) for e in json.loads(first.stdout)["entries"]}

    again = run_launcher("run", str(manifest), *ledger, "--format", "json", "-v", env=env)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert (doc["ok"], doc["exit_code"], doc["stopped"], doc.get("error")) == (True, 0, None, None)
    counts = [doc[k] for k in ("created", "adopted", "skipped", "failed", "in_doubt", "pending")]
    assert counts == [0, 0, 3, 0, 0, 0]
    assert {e["entry"]: (e["session_id"], e["url"]) for e in doc["entries"]} == created
    assert {e["outcome"] for e in doc["entries"]} == {"skipped"}
    assert doc["run_id"] != json.loads(first.stdout)["run_id"]
    assert "nothing to send: all 3 entries" in again.stderr
    assert again.stderr.count("skip ") == 3  # -v names each entry it skips
    assert sb.stats()["requests"] == 3  # the three creates of the first run, nothing since
