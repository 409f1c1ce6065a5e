"""Quiet nights: a run with nothing to send says so in one line and never "dispatching";
`run --wait` says nothing about a concurrent-session limit it never met."""

from __future__ import annotations

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
