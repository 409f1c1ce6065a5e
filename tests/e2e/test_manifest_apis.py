"""Manifests that know both APIs, and attachments, through real launcher processes and the
real sandbox on 127.0.0.1 (one for the module): a v3-only field on a v1 run is one error
at its line and column, and sends nothing; an attachment three entries share is uploaded
once, and never again by a later run; `ledger summary` says what the sessions spent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.sandbox.handle import SandboxHandle
from launcher.sandbox.server import running_sandbox
from tests.support.fixtures import FIXTURE_CONFIG
from tests.support.runkit import assert_no_secrets, launcher_env, read_ledger, run_launcher

pytestmark = pytest.mark.slow
COG = "cog_e2e_SERVICEUSERKEY_123456"


@pytest.fixture(scope="module")
def shared() -> Iterator[SandboxHandle]:
    with running_sandbox(FIXTURE_CONFIG) as handle:
        yield handle


def _errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if ": error: " in line]


def test_a_v3_only_field_on_a_v1_run_is_one_error_at_its_line_and_column(
    tmp_path: Path, shared: SandboxHandle
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "version: 1\nsessions:\n  - name: a\n    prompt: fix it\n    repos: [acme/api]\n"
        "    attachments: [notes.md]\n"
    )
    (tmp_path / "notes.md").write_text("# notes\n")
    before = shared.stats()["requests"]
    uploads = shared.stats()["uploads"]
    env = launcher_env(shared.base_url)  # an apk_ key: v1
    for command in ("validate", "plan", "run"):
        done = run_launcher(command, str(manifest), env=env, cwd=tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        (error,) = _errors(done.stdout + done.stderr)
        assert error.startswith(f"{manifest}:5:5: error: sessions[0].repos: "), error
        assert "`repos` exists only in the Devin API v3" in error
        assert "--api v3" in error and "or remove `repos`" in error
    assert shared.stats()["requests"] == before  # nothing was sent, nothing uploaded
    assert shared.stats()["uploads"] == uploads
    assert not (tmp_path / "launcher-ledger.jsonl").exists()

    # The same manifest on v3 (a cog_ key and the organisation) is fine, and is sent.
    v3 = launcher_env(shared.base_url, DEVIN_API_KEY=COG, DEVIN_ORG_ID="org-e2e")
    ran = run_launcher("run", str(manifest), env=v3, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 created" in ran.stdout
    assert shared.stats()["uploads"] == uploads + 1  # through v3's attachments route


def test_an_attachment_three_entries_share_is_uploaded_once(
    tmp_path: Path, shared: SandboxHandle
) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "build.log").write_text("error: the build broke\n")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "version: 1\ndefaults:\n  attachments: [logs/build.log]\n  tags: [attached]\n"
        "sessions:\n  - name: fix-${{ matrix.n }}\n    matrix: {n: [1, 2, 3]}\n"
        "    prompt: Fix part ${{ matrix.n }} of the build\n"
        "    session_secrets: [{key: TOKEN, value: '${{ env.TEST_SECRET }}'}]\n"
    )
    env = launcher_env(shared.base_url)
    ledger = tmp_path / "l.jsonl"
    planned = run_launcher("plan", str(manifest), "--ledger", str(ledger), env=env)
    assert planned.stdout.count("logs/build.log (23 bytes, ") == 3, planned.stdout
    before = shared.stats()["uploads"]
    ran = run_launcher("run", str(manifest), "--ledger", str(ledger), env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "3 created" in ran.stdout
    assert shared.stats()["uploads"] - before == 1
    (upload,) = [e for e in read_ledger(ledger) if e["event"] == "attachment"]
    url = upload["url"]
    assert url.startswith(shared.base_url + "/attachments/") and upload["bytes"] == 23
    for session in shared.list_sessions(tags=["attached"]):
        got = shared.get_session(session["session_id"])
        assert got["messages"][0]["message"].endswith(f'\n\nATTACHMENT:"{url}"\n')

    # A later run (another run key: three new sessions) uses the recorded upload.
    again = run_launcher("run", str(manifest), "--ledger", str(ledger), "--run-key", "b", env=env)
    assert again.returncode == 0 and "3 created" in again.stdout, again.stderr
    assert shared.stats()["uploads"] - before == 1
    # Other content is another entry (its key holds the content): a new upload.
    (tmp_path / "logs" / "build.log").write_text("error: another failure\n")
    changed = run_launcher("plan", str(manifest), "--ledger", str(ledger), env=env)
    assert "3 to create, 0 to skip, 3 changed" in changed.stdout, changed.stdout
    summary = run_launcher("ledger", "summary", str(ledger), env=env)
    assert "ACUs: not reported (the API v1 does not report them)" in summary.stdout
    assert_no_secrets(ran.stdout, ran.stderr, again.stdout, json.dumps(read_ledger(ledger)))
