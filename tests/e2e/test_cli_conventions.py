"""The CLI conventions: --version, a subcommand's own usage on a usage error,
`run --dry-run` pointing to `plan`, time-stamped log lines off a terminal, -q/-v,
`auth check` (one request, exit 0/3), and `ledger summary --manifests` after a real
interrupted run. Runs go to a real sandbox over loopback."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from launcher import __version__
from launcher.cli import main
from tests.support.runkit import (
    API_KEY,
    MakeSandbox,
    MakeSandboxProcess,
    assert_no_secrets,
    launcher_env,
    read_ledger,
    run_launcher,
    start_launcher,
    write_manifest,
)

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z launcher: ")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"launcher {__version__}\n"


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["plan", "m/", "--bogus"], "usage: launcher plan "),
        (["run", "m/", "--concurency", "4"], "usage: launcher run "),
        (["validate"], "usage: launcher validate "),
        (["ledger", "summary", "F", "--bogus"], "usage: launcher ledger summary "),
        (["auth", "check", "--bogus"], "usage: launcher auth check "),
    ],
)
def test_a_usage_error_shows_that_subcommands_usage(
    argv: list[str], usage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(usage), err
    assert "COMMAND" not in err  # not the top-level usage
    assert re.search(r"launcher: error: .+ \(see `launcher .+ --help`\)", err)


def test_run_dry_run_points_to_plan(
    tmp_path: Path, make_sandbox: MakeSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 2, secret=False)
    ledger = tmp_path / "l.jsonl"
    argv = ["run", str(tmp_path / "m.yaml"), "--base-url", sb.base_url, "--ledger", str(ledger)]
    assert main([*argv, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "launcher plan" in err and "--dry-run" in err
    assert sb.stats()["requests"] == 0 and not ledger.exists()


@pytest.mark.slow
def test_log_lines_carry_a_timestamp_off_a_terminal_and_quiet_drops_them(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    sb = make_sandbox(fail_rate=1.0)  # every create fails with 500: retries are logged
    write_manifest(tmp_path / "m.yaml", 2, idempotent=True)
    env = launcher_env(sb.base_url)
    base = ("run", str(tmp_path / "m.yaml"), "--ledger", str(tmp_path / "l.jsonl"))
    args = (*base, "--max-attempts", "2", "--reconcile-delay", "0")
    loud = run_launcher(*args, env=env)
    assert loud.returncode == 1, loud.stderr
    lines = loud.stderr.splitlines()
    assert lines and all(STAMP.match(line) for line in lines), loud.stderr
    assert any("dispatching to" in line for line in lines)
    assert any(" retry m.yaml#task-0 " in line for line in lines)

    quiet = run_launcher(*args, "-q", "--run-key", "again", env=env)
    assert quiet.returncode == 1
    # Only warnings remain: the failures, not the start line nor the retries.
    assert "dispatching to" not in quiet.stderr and " retry " not in quiet.stderr
    assert "in doubt m.yaml#task-0" in quiet.stderr
    assert "2 in doubt" in quiet.stdout  # the results stay
    assert_no_secrets(loud.stdout, loud.stderr, quiet.stdout, quiet.stderr)


@pytest.mark.slow
def test_verbose_logs_skips_and_quiet_validate_is_silent(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 2)
    env = launcher_env(sb.base_url)
    args = ("run", str(tmp_path / "m.yaml"), "--ledger", str(tmp_path / "l.jsonl"))
    assert run_launcher(*args, env=env).returncode == 0
    again = run_launcher(*args, "-v", env=env)
    assert again.returncode == 0
    assert "skip m.yaml#task-0: created by an earlier run" in again.stderr
    quiet = run_launcher("validate", str(tmp_path), "-q", env=env)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    normal = run_launcher("validate", str(tmp_path), env=env)
    assert normal.stderr.startswith("ok: 1 file, 2 entries")


@pytest.mark.parametrize(("key", "code"), [(API_KEY, 0), ("apk_revoked_0000", 3)])
@pytest.mark.slow
def test_auth_check_asks_once_and_names_the_variable_never_the_key(
    key: str, code: int, make_sandbox: MakeSandbox
) -> None:
    sb = make_sandbox(api_key=API_KEY)
    env = launcher_env(sb.base_url, MY_DEVIN_KEY=key)
    del env["DEVIN_API_KEY"]
    checked = run_launcher("auth", "check", "--api-key-env", "MY_DEVIN_KEY", env=env)
    assert checked.returncode == code, checked.stderr
    said = checked.stdout + checked.stderr
    assert "MY_DEVIN_KEY" in said and sb.base_url in said
    assert key not in said
    stats = sb.stats()
    assert (stats["list_gets"], stats["requests"]) == (1, 0)  # one read, nothing created
    as_json = run_launcher(
        "auth", "check", "--api-key-env", "MY_DEVIN_KEY", "--format", "json", env=env
    )
    doc = json.loads(as_json.stdout)
    assert (doc["exit_code"], doc["api_key_env"], doc["status"]) == (
        code,
        "MY_DEVIN_KEY",
        401 if code else 200,
    )
    assert key not in as_json.stdout + as_json.stderr


@pytest.mark.slow
def test_auth_check_takes_the_key_as_run_does(make_sandbox: MakeSandbox) -> None:
    """Unset: exit 2 before any request. A CRLF-ended key (`$(cat key)` of a Windows file):
    accepted with the same warning as `run`, never shown."""
    sb = make_sandbox(api_key=API_KEY)
    env = launcher_env(sb.base_url)
    del env["DEVIN_API_KEY"]
    unset = run_launcher("auth", "check", env=env)
    assert unset.returncode == 2 and "DEVIN_API_KEY (the API key) is not set" in unset.stderr
    assert sb.stats()["list_gets"] == 0  # refused before any request
    crlf = run_launcher("auth", "check", env={**env, "DEVIN_API_KEY": API_KEY + "\r\n"})
    assert crlf.returncode == 0, crlf.stderr
    assert "spaces or line breaks around the key; they were removed" in crlf.stderr
    assert API_KEY not in crlf.stdout + crlf.stderr
    assert sb.stats()["list_gets"] == 1


def _wait_for(ledger: Path, text: str, count: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ledger.exists() and ledger.read_text().count(text) >= count:
            return
        assert proc.poll() is None, "the launcher ended before it could be stopped"
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} {text} in 60 s")


@pytest.mark.slow
def test_an_interrupted_run_stays_visible_to_the_summary_alert(
    tmp_path: Path, sandbox_process: MakeSandboxProcess
) -> None:
    sb = sandbox_process(latency_ms=150)
    folder = tmp_path / "manifests"
    write_manifest(folder / "m.yaml", 30)
    ledger = tmp_path / "ledger.jsonl"
    env = launcher_env(sb.base_url)
    args = ("run", str(folder), "--ledger", str(ledger), "--concurrency", "2", "--run-key", "d1")
    proc = start_launcher(*args, env=env)
    _wait_for(ledger, '"event":"created"', 3, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    created = {e["entry"] for e in read_ledger(ledger) if e["event"] == "created"}
    never = 30 - len({e["entry"] for e in read_ledger(ledger)})
    assert 0 < len(created) < 30 and never > 0

    # The ledger alone cannot know about entries it never saw: what the issue reported.
    plain = run_launcher("ledger", "summary", str(ledger), env=env)
    assert "pending 0" in plain.stdout
    # Given the manifests and the run key, the summary counts them, and the alert fires.
    summary = ("ledger", "summary", str(ledger), "--manifests", str(folder), "--run-key", "d1")
    text = run_launcher(*summary, env=env)
    assert text.returncode == 1, text.stderr
    assert f"pending {never}" in text.stdout
    assert text.stdout.count(" never sent") == never
    doc = json.loads(run_launcher(*summary, "--format", "json", env=env).stdout)
    assert (doc["exit_code"], doc["counts"]["pending"]) == (1, never)
    assert doc["counts"]["created"] == len(created)
    assert sum(1 for e in doc["entries"] if e.get("never_sent")) == never
    # Another day's run key: nothing of that day was sent either.
    other = run_launcher(*summary[:-1], "d2", env=env)
    assert other.returncode == 1 and "pending 30" in other.stdout

    assert run_launcher(*args, env=env).returncode == 0  # the resume finishes
    done = run_launcher(*summary, env=env)
    assert done.returncode == 0, done.stdout
    assert "created 30" in done.stdout and "pending 0" in done.stdout
    assert_no_secrets(out, err, text.stdout, text.stderr, ledger.read_text())
