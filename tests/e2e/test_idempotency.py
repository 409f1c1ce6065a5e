"""Idempotency as Devin does it, over the real sandbox (which matches idempotent requests on
the prompt, as Devin is reported to): two entries with one prompt are warned about before
anything is sent, become one session, and are both followed and counted to its end."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.runkit import MakeSandbox, launcher_env, read_ledger, run_launcher

TWINS = """\
version: 1
defaults:
  idempotent: true
sessions:
  - name: first
    prompt: Upgrade the lockfile
  - name: second
    prompt: Upgrade the lockfile
    tags: [again]
  - name: alone
    prompt: Something else
"""


@pytest.mark.slow
def test_two_entries_with_one_prompt_are_warned_then_both_followed(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    sb = make_sandbox(work_seconds=1.0)
    manifest = tmp_path / "twins.yaml"
    manifest.write_text(TWINS)
    ledger = tmp_path / "ledger.jsonl"
    env = launcher_env(sb.base_url)

    plan = run_launcher("plan", str(manifest), "--ledger", str(ledger), env=env)
    assert plan.returncode == 0, plan.stderr
    warning = (
        "idempotent entries twins.yaml#first (line 5) and twins.yaml#second (line 7) share "
        "one prompt"
    )
    assert warning in plan.stderr
    assert sb.stats()["requests"] == 0

    run = run_launcher(
        "run", str(manifest), "--ledger", str(ledger), "--wait", "--poll-interval", "0.3",
        env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert warning in run.stderr
    assert "3 of 3 ended well (3 finished)" in run.stdout + run.stderr
    assert sb.stats()["sessions"] == 2  # the twins are one session
    events = read_ledger(ledger)
    made = {e["name"]: e for e in events if e["event"] == "created"}
    assert made["first"]["session_id"] == made["second"]["session_id"]
    adopted = [n for n, e in made.items() if e.get("is_new_session") is False]
    assert len(adopted) == 1  # whichever answer came second
    other = "first" if adopted == ["second"] else "second"
    assert (
        f"warning: twins.yaml#{adopted[0]} was answered with the session of twins.yaml#{other}"
        in run.stderr
    )
    finished = {e["name"] for e in events if e["event"] == "status"}
    assert finished == {"first", "second", "alone"}  # each entry followed to its end
