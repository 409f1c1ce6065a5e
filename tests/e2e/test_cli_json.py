"""The JSON contract: every command with `--format json` prints exactly one JSON object on
stdout on every exit, of the shape docs/reference/json-output.md documents, with the exit
code it documents.

Every command × {success, invalid manifest, missing variable, usage error, wrong key}, run
in-process through `main` against a real sandbox (in a thread, over loopback) that accepts
one key only.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from launcher.cli import main
from launcher.sandbox.handle import SandboxHandle
from tests.support.runkit import API_KEY, SECRET, MakeSandbox, assert_no_secrets

SCENARIOS = ("success", "invalid manifest", "missing variable", "usage error", "wrong key")
COMMANDS = ("validate", "plan", "run", "watch", "ledger summary", "auth check")

# The exit code docs/reference/exit-codes.md promises, per command and scenario.
# validate and ledger summary need no key and no variable; plan needs the variables run
# needs; watch needs the secrets' variables too (their values mask a secret a session echoes).
EXPECTED = {
    "validate": (0, 2, 0, 2, 0),
    "plan": (0, 2, 2, 2, 0),  # a missing variable: refused as run refuses it
    "run": (0, 2, 2, 2, 3),
    "watch": (0, 2, 2, 2, 3),
    "ledger summary": (0, 2, 0, 2, 0),
    "auth check": (0, 0, 2, 2, 3),
}
ENVELOPE = {"command": str, "ok": bool, "exit_code": int}
# The command's own keys on success (docs/reference/json-output.md).
OWN_KEYS = {
    "validate": {"counts", "diagnostics"},
    "plan": {"counts", "entries"},
    "run": {"created", "adopted", "skipped", "failed", "in_doubt", "pending", "ledger", "entries"},
    "watch": {"ended_well", "did_not_end_well", "timed_out", "entries"},
    "ledger summary": {"ledger", "counts", "entries", "failures", "warnings"},
    "auth check": {"api_key_env", "base_url", "status"},
}

GOOD = """\
version: 1
sessions:
  - name: hello
    prompt: Say hello
  - name: with-secret
    prompt: Use the token
    session_secrets:
      - key: TOKEN
        value: ${{ env.TEST_SECRET }}
"""
BAD = "version: 1\nsessions:\n  - name: x\n    promt: typo\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, SandboxHandle]]:
    """Manifests, and a ledger where every good entry is created, on a sandbox with a key."""
    from launcher.sandbox.config import SandboxConfig
    from launcher.sandbox.server import running_sandbox

    root = tmp_path_factory.mktemp("contract")
    (root / "good").mkdir()
    (root / "good" / "m.yaml").write_text(GOOD)
    (root / "bad").mkdir()
    (root / "bad" / "m.yaml").write_text(BAD)
    config = SandboxConfig(host="127.0.0.1", port=0, api_key=API_KEY, work_seconds=0.2)
    with running_sandbox(config) as sb:
        yield root, sb


def _argv(command: str, scenario: str, root: Path, base_url: str) -> list[str]:
    manifests = str(root / ("bad" if scenario == "invalid manifest" else "good"))
    ledger = str(root / f"ledger-{scenario.replace(' ', '-')}.jsonl")
    summary_ledger = str(root / "ledger-summary.jsonl")
    watch_ledger = str(root / f"ledger-watch-{scenario.replace(' ', '-')}.jsonl")
    argv = {
        "validate": ["validate", manifests],
        "plan": ["plan", manifests, "--ledger", ledger],
        "run": ["run", manifests, "--ledger", ledger, "--base-url", base_url],
        "watch": ["watch", manifests, "--ledger", watch_ledger, "--base-url", base_url],
        "ledger summary": ["ledger", "summary", summary_ledger, "--manifests", manifests],
        "auth check": ["auth", "check", "--base-url", base_url],
    }[command]
    if scenario == "usage error":
        argv.append("--no-such-option")
    return [*argv, "--format", "json"]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.slow
def test_one_json_object_on_every_exit(
    command: str,
    scenario: str,
    world: tuple[Path, SandboxHandle],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, sb = world
    for name in ("DEVIN_BASE_URL", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEVIN_API_KEY", "apk_wrong_key" if scenario == "wrong key" else API_KEY)
    monkeypatch.setenv("TEST_SECRET", SECRET)
    if scenario == "missing variable":
        monkeypatch.delenv("TEST_SECRET")
        if command == "auth check":  # the variable auth check needs is the key's
            monkeypatch.delenv("DEVIN_API_KEY")
    if command in ("ledger summary", "watch"):  # a ledger where every good entry is created
        ledger = root / "ledger-summary.jsonl"
        if not ledger.exists():
            argv = ["run", str(root / "good"), "--ledger", str(ledger), "--base-url", sb.base_url]
            with monkeypatch.context() as m:
                m.setenv("DEVIN_API_KEY", API_KEY)
                m.setenv("TEST_SECRET", SECRET)
                assert main(argv) == 0
            capsys.readouterr()
            time.sleep(0.5)  # and settled: sandbox sessions here work 0.2 s
        if command == "watch":  # a copy per scenario: each watch starts from the same state
            copy = root / f"ledger-watch-{scenario.replace(' ', '-')}.jsonl"
            shutil.copyfile(ledger, copy)

    code = main(_argv(command, scenario, root, sb.base_url))
    out, err = capsys.readouterr()

    assert code == EXPECTED[command][SCENARIOS.index(scenario)], err
    doc = _one_object(out)
    for key, kind in ENVELOPE.items():
        assert isinstance(doc[key], kind), (key, doc)
    assert doc["command"] == command
    assert doc["exit_code"] == code and doc["ok"] is (code == 0)
    if code == 0:
        assert OWN_KEYS[command] <= set(doc), doc
        assert "error" not in doc
    else:
        assert set(doc["error"]) == {"kind", "message"} and doc["error"]["message"], doc
        assert doc["error"]["message"].splitlines()[0] in err  # people see it on stderr too
    if scenario == "invalid manifest" and command != "auth check":
        assert doc["error"]["kind"] == "invalid_manifests"
        assert any("promt" in d["where"] for d in doc["diagnostics"])
    if scenario == "usage error":
        assert doc["error"]["kind"] == "usage" and "--no-such-option" in doc["error"]["message"]
    if scenario == "wrong key" and code == 3:
        assert doc["error"]["kind"] == "auth"
    assert_no_secrets(out, err)
    assert "apk_wrong_key" not in out + err


def _one_object(out: str) -> dict[str, Any]:
    """`out` is exactly one JSON object (json.loads refuses trailing data)."""
    doc = json.loads(out)
    assert isinstance(doc, dict), out
    assert out.isascii()  # ensure_ascii: nothing but ASCII reaches a terminal
    return doc


@pytest.mark.slow
def test_plan_counts_and_the_detailed_exit_code(
    world: tuple[Path, SandboxHandle],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_sandbox: MakeSandbox,
) -> None:
    root, _ = world
    sb = make_sandbox()
    monkeypatch.setenv("DEVIN_API_KEY", API_KEY)
    monkeypatch.setenv("TEST_SECRET", SECRET)
    ledger = str(tmp_path / "l.jsonl")
    plan = ["plan", str(root / "good"), "--ledger", ledger, "--format", "json"]

    assert main(plan) == 0  # without the flag: 0 whatever there is to do
    assert json.loads(capsys.readouterr().out)["counts"] == {"create": 2, "skip": 0, "changed": 0}
    assert main([*plan, "--detailed-exitcode"]) == 10
    doc = json.loads(capsys.readouterr().out)
    assert (doc["exit_code"], doc["ok"]) == (10, True)  # work to do is no failure

    assert main(["run", str(root / "good"), "--ledger", ledger, "--base-url", sb.base_url]) == 0
    capsys.readouterr()
    assert main([*plan, "--detailed-exitcode"]) == 0  # nothing left to create
    assert json.loads(capsys.readouterr().out)["counts"] == {"create": 0, "skip": 2, "changed": 0}
    (root / "bad-too").mkdir(exist_ok=True)
    (root / "bad-too" / "m.yaml").write_text(BAD)
    bad = ["plan", str(root / "bad-too"), "--ledger", ledger, "--detailed-exitcode"]
    assert main(bad) == 2  # invalid stays 2, never confused with "something to create"
    assert main(["plan", str(root / "good"), "--ledger", ledger, "--detailed-exitcode"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 to create, 2 to skip"


def test_plan_refuses_a_missing_secret_variable_as_run_does(
    world: tuple[Path, SandboxHandle],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    root, sb = world
    monkeypatch.setenv("DEVIN_API_KEY", API_KEY)
    monkeypatch.delenv("TEST_SECRET", raising=False)
    ledger = str(tmp_path / "l.jsonl")
    plan = main(["plan", str(root / "good"), "--ledger", ledger])
    plan_err = capsys.readouterr().err
    run = main(["run", str(root / "good"), "--ledger", ledger, "--base-url", sb.base_url])
    run_err = capsys.readouterr().err
    assert plan == run == 2
    assert "TEST_SECRET (used by m.yaml#with-secret)" in plan_err
    assert plan_err.splitlines()[-2:] == run_err.splitlines()[-2:]  # the same words
