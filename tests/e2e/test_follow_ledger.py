"""Follow-up acts on what the ledger holds: `watch`, `results`, `cancel` and `message` in
child processes against the sandbox over loopback, with the manifests edited after the
run, without the run key, and without any PATH at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.sandbox.handle import SandboxHandle
from tests.support.runkit import assert_no_secrets, launcher_env, read_ledger, run_launcher

pytestmark = pytest.mark.slow

ENTRIES = 4


def manifest(path: Path, prompt: str, *, work: int = 600) -> Path:
    """ENTRIES entries named task-0..; `prompt` changes every request (not the names)."""
    path.write_text(
        "version: 1\n"
        "defaults:\n"
        f"  tags: [bulk, 'sandbox:work={work}']\n"
        "sessions:\n"
        "  - name: task-${{ matrix.i }}\n"
        "    matrix:\n"
        f"      i: [{', '.join(str(i) for i in range(ENTRIES))}]\n"
        f"    prompt: {prompt} ${{{{ matrix.i }}}}\n"
    )
    return path


def test_entries_edited_after_the_run_are_followed_cancelled_and_marked(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    env = launcher_env(sandbox.base_url)
    ledger = str(tmp_path / "ledger.jsonl")
    m = str(manifest(tmp_path / "m.yaml", "Upgrade repo"))
    done = run_launcher("run", m, "--ledger", ledger, env=env)
    assert done.returncode == 0, done.stderr
    sessions = {e["session_id"] for e in read_ledger(Path(ledger)) if e["event"] == "created"}
    assert len(sessions) == ENTRIES
    manifest(tmp_path / "m.yaml", "Upgrade the repository")  # every request changed

    watched = run_launcher("watch", m, "--ledger", ledger, "--timeout", "1", env=env)
    assert watched.returncode == 1  # still working when --timeout passes
    assert "never sent" not in watched.stdout + watched.stderr
    assert "launcher run" not in watched.stdout + watched.stderr
    # Off a terminal each line starts with its UTC time stamp.
    lines = [x.split(" ", 1)[1] for x in watched.stdout.splitlines()]
    marked = [x for x in lines if x.startswith("working") and x.endswith("(changed since sent)")]
    assert len(marked) == ENTRIES
    assert f"0 of {ENTRIES} ended well ({ENTRIES} working)" in watched.stdout

    results = run_launcher("results", m, "--ledger", ledger, env=env)
    records = [json.loads(line) for line in results.stdout.splitlines()]
    assert {r["session_id"] for r in records} == sessions
    assert all(r["changed_since_sent"] and r["status"] == "working" for r in records)

    preview = run_launcher("cancel", m, "--ledger", ledger, "--dry-run", env=env)
    assert preview.returncode == 0, preview.stderr
    assert preview.stdout.count("would terminate") == ENTRIES
    assert f"--dry-run: {ENTRIES} sessions would be terminated; nothing sent" in preview.stdout
    assert sandbox.stats()["deletes"] == 0

    cancelled = run_launcher("cancel", m, "--ledger", ledger, env=env)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"{ENTRIES} terminated, 0 had already exited, 0 failed" in cancelled.stdout
    assert sandbox.stats()["terminated"] == ENTRIES
    assert sandbox.stats()["sessions"] == ENTRIES  # nothing created along the way
    assert_no_secrets(watched.stdout, watched.stderr, cancelled.stdout, cancelled.stderr)


def test_without_the_run_key_or_without_path_the_sessions_are_found(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    env = launcher_env(sandbox.base_url)
    ledger = str(tmp_path / "ledger.jsonl")
    m = str(manifest(tmp_path / "m.yaml", "Fix lint"))
    done = run_launcher("run", m, "--ledger", ledger, "--run-key", "nightly-7", env=env)
    assert done.returncode == 0, done.stderr

    # With PATH but not the run key: each entry names the key that holds its session.
    keyless = run_launcher("watch", m, "--ledger", ledger, "--timeout", "1", env=env)
    assert keyless.returncode == 1
    assert keyless.stdout.count("run key 'nightly-7' holds its session: pass --run-key") == ENTRIES
    assert "launcher run" not in keyless.stdout + keyless.stderr

    # Without PATH: every session of the ledger, or one run key's, or one batch's.
    for narrowing in ([], ["--run-key", "nightly-7"]):
        watched = run_launcher("watch", "--ledger", ledger, "--timeout", "1", *narrowing, env=env)
        assert f"0 of {ENTRIES} ended well ({ENTRIES} working)" in watched.stdout, narrowing
    other = run_launcher("watch", "--ledger", ledger, "--run-key", "other", env=env)
    assert other.returncode == 2 and "ledger batches" in other.stderr

    preview = run_launcher("message", "--ledger", ledger, "--text", "hi", "--dry-run", env=env)
    assert preview.returncode == 0, preview.stderr
    assert preview.stdout.count("would message") == ENTRIES
    assert sandbox.stats()["messages"] == 0

    before = Path(ledger).read_bytes()
    preview = run_launcher("cancel", "--ledger", ledger, "--dry-run", env=env)
    assert preview.stdout.count("would terminate") == ENTRIES
    assert sandbox.stats()["deletes"] == 0 and Path(ledger).read_bytes() == before

    cancelled = run_launcher("cancel", "--ledger", ledger, env=env)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"{ENTRIES} terminated" in cancelled.stdout
    assert sandbox.stats()["terminated"] == ENTRIES
    again = run_launcher("cancel", "--ledger", ledger, env=env)
    assert "0 terminated" in again.stdout and sandbox.stats()["deletes"] == ENTRIES
