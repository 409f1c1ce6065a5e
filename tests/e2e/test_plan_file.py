"""A reviewed plan, applied as reviewed, over the real sandbox: `plan --out` writes the exact
requests (no secret value in it), `show` prints it as `plan` does, `run --plan` refuses an
edited manifest (naming it, sending nothing) and otherwise sends exactly the planned
bodies, as the sandbox received them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.runkit import (
    SECRET,
    MakeSandbox,
    assert_no_secrets,
    launcher_env,
    run_launcher,
    write_manifest,
)


def body_sha(body: dict[str, Any]) -> str:
    """The sandbox's digest of a request body (its canonical JSON)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.slow
def test_a_plan_is_applied_as_reviewed_or_refused(
    tmp_path: Path, make_sandbox: MakeSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = make_sandbox()
    monkeypatch.chdir(tmp_path)  # as in CI: the plan names its manifests as given
    write_manifest(Path("manifests/a.yaml"), 3, prefix="alpha")  # with a secret
    write_manifest(Path("manifests/b.yaml"), 2, prefix="beta", secret=False)
    env = launcher_env(sb.base_url)

    planned = run_launcher("plan", "manifests", "--out", "batch.plan", env=env)
    assert planned.returncode == 0, planned.stderr
    text = Path("batch.plan").read_text()
    assert_no_secrets(text, planned.stdout, planned.stderr)
    assert "${{ env.TEST_SECRET }}" in text  # the secret as a reference to its variable
    plan = json.loads(text)
    shown = run_launcher("show", "batch.plan", env=env)
    assert shown.returncode == 0 and shown.stdout == planned.stdout  # printed as plan does

    original = Path("manifests/b.yaml").read_text()
    Path("manifests/b.yaml").write_text(original.replace("Do task", "Do the task"))
    refused = run_launcher("run", "--plan", "batch.plan", env=env)
    assert refused.returncode == 2
    assert "manifests/b.yaml changed since the plan was made" in refused.stderr
    assert "manifests/a.yaml" not in refused.stderr
    assert sb.stats()["requests"] == 0 and not Path("launcher-ledger.jsonl").exists()

    Path("manifests/b.yaml").write_text(original)
    applied = run_launcher("run", "--plan", "batch.plan", env=env)
    assert applied.returncode == 0, applied.stderr
    assert_no_secrets(applied.stdout, applied.stderr, Path("launcher-ledger.jsonl").read_text())
    expected = []
    for item in plan["items"]:
        body = json.loads(json.dumps(item["body"]).replace("${{ env.TEST_SECRET }}", SECRET))
        expected.append(body_sha(body))
    received = [r["body_sha"] for r in sb.requests_log()]
    assert len(expected) == 5 and sorted(received) == sorted(expected)  # byte for byte
    assert sb.stats()["sessions"] == 5

    again = run_launcher("run", "--plan", "batch.plan", env=env)
    assert again.returncode == 2 and "changed since the plan" in again.stderr
    assert sb.stats()["requests"] == 5  # a plan applied is spent: nothing sent twice
