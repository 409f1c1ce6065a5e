"""The ledger knows where its sessions live: the launcher in child processes, a sandbox
standing in for "the real API" (and a second one for another API), the embedded sandbox
for the rehearsal. The sandboxes' stats say what was sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.sandbox.handle import SandboxHandle
from tests.support.runkit import (
    MakeSandbox,
    assert_no_secrets,
    launcher_env,
    read_ledger,
    run_launcher,
    write_manifest,
)

pytestmark = pytest.mark.slow


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("launcher: error")]


def test_the_rehearsal_keeps_its_own_ledger_and_the_real_run_creates_all(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    manifests = tmp_path / "manifests"
    write_manifest(manifests / "m.yaml", 15)
    env = launcher_env(sandbox.base_url)  # the "real API"
    rehearsal = run_launcher("run", "manifests", "--sandbox", env=env, cwd=tmp_path)
    assert rehearsal.returncode == 0, rehearsal.stderr
    assert (tmp_path / "launcher-sandbox-ledger.jsonl").is_file()
    assert not (tmp_path / "launcher-ledger.jsonl").exists()

    real = run_launcher("run", "manifests", env=env, cwd=tmp_path)
    assert real.returncode == 0, real.stderr
    assert "15 created" in real.stdout
    assert sandbox.stats()["sessions"] == 15
    events = read_ledger(tmp_path / "launcher-ledger.jsonl")
    assert {e["api"]["base_url"] for e in events} == {sandbox.base_url}
    assert not any(e["api"]["sandbox"] for e in events)
    assert_no_secrets(rehearsal.stdout, rehearsal.stderr, real.stdout, real.stderr)


def test_a_real_run_refuses_the_rehearsals_ledger_before_sending(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    write_manifest(tmp_path / "m.yaml", 15)
    env = launcher_env(sandbox.base_url)
    ledger = str(tmp_path / "launcher-ledger.jsonl")
    rehearsal = run_launcher(
        "run", str(tmp_path / "m.yaml"), "--sandbox", "--ledger", ledger, env=env
    )
    assert rehearsal.returncode == 0, rehearsal.stderr
    before = Path(ledger).read_bytes()

    real = run_launcher("run", str(tmp_path / "m.yaml"), "--ledger", ledger, env=env)
    assert real.returncode == 2, real.stderr
    (error,) = _errors(real.stderr)
    assert ledger in error and "the embedded sandbox" in error and sandbox.base_url in error
    assert sandbox.stats()["sessions"] == 0 and sandbox.stats()["requests"] == 0
    assert Path(ledger).read_bytes() == before  # nothing recorded either


def test_no_command_acts_on_sessions_of_another_api(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    a, b = make_sandbox(), make_sandbox()
    manifest = str(write_manifest(tmp_path / "m.yaml", 3))
    ledger = str(tmp_path / "a.jsonl")
    done = run_launcher("run", manifest, "--ledger", ledger, env=launcher_env(a.base_url))
    assert done.returncode == 0, done.stderr
    before = Path(ledger).read_bytes()

    env_b = launcher_env(b.base_url)
    for command in (
        ["run", manifest],
        ["watch", manifest, "--poll-interval", "0.1"],
        ["cancel", manifest],
        ["message", manifest, "--text", "hello"],
        ["run", manifest, "--sandbox"],
    ):
        refused = run_launcher(*command, "--ledger", ledger, env=env_b)
        assert refused.returncode == 2, (command, refused.stderr)
        (error,) = _errors(refused.stderr)
        assert f"holds sessions of {a.base_url} (v1)" in error, error
        assert (b.base_url in error) or ("embedded sandbox" in error), error
    assert b.stats()["requests"] == 0 and b.stats()["list_gets"] == 0
    assert Path(ledger).read_bytes() == before


def test_merging_ledgers_of_two_apis_is_refused(tmp_path: Path, make_sandbox: MakeSandbox) -> None:
    a, b = make_sandbox(), make_sandbox()
    manifest = str(write_manifest(tmp_path / "m.yaml", 2))
    for name, sb in (("a", a), ("b", b), ("a2", a)):
        ledger = str(tmp_path / f"{name}.jsonl")
        done = run_launcher(
            "run", manifest, "--ledger", ledger, "--run-key", name, env=launcher_env(sb.base_url)
        )
        assert done.returncode == 0, done.stderr
    env = launcher_env()
    out = tmp_path / "merged.jsonl"
    refused = run_launcher(
        "ledger",
        "merge",
        str(tmp_path / "a.jsonl"),
        str(tmp_path / "b.jsonl"),
        "--output",
        str(out),
        env=env,
    )
    assert refused.returncode == 2, refused.stderr
    (error,) = _errors(refused.stderr)
    assert a.base_url in error and b.base_url in error
    assert not out.exists()
    same = run_launcher(
        "ledger",
        "merge",
        str(tmp_path / "a.jsonl"),
        str(tmp_path / "a2.jsonl"),
        "--output",
        str(out),
        env=env,
    )
    assert same.returncode == 0, same.stderr


def test_an_earlier_launchers_ledger_is_taken_for_the_first_api_and_said_once(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    a, b = make_sandbox(), make_sandbox()
    manifest = tmp_path / "m.yaml"
    write_manifest(manifest, 2)
    ledger = tmp_path / "old.jsonl"
    done = run_launcher("run", str(manifest), "--ledger", str(ledger), env=launcher_env(a.base_url))
    assert done.returncode == 0, done.stderr
    # What a launcher before the `api` field wrote: the same lines without it.
    old = [{k: v for k, v in e.items() if k != "api"} for e in read_ledger(ledger)]
    ledger.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in old))

    write_manifest(manifest, 3)  # one entry more: this run sends it
    first = run_launcher(
        "run", str(manifest), "--ledger", str(ledger), env=launcher_env(a.base_url)
    )
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("earlier launcher") == 1
    assert "1 created, 2 skipped" in first.stdout
    again = run_launcher(
        "run", str(manifest), "--ledger", str(ledger), env=launcher_env(a.base_url)
    )
    assert again.returncode == 0 and "earlier launcher" not in again.stderr
    other = run_launcher(
        "run", str(manifest), "--ledger", str(ledger), env=launcher_env(b.base_url)
    )
    assert other.returncode == 2 and b.stats()["requests"] == 0
