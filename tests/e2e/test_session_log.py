"""`launcher log` and `results --messages` against the sandbox: the messages a session
received (its prompt, and what `launcher message` sent) and the ones it wrote, escaped on
a terminal, as JSON Lines, from manifests or from the ledger alone; no secret shown."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.handle import SandboxHandle
from launcher.sandbox.server import running_sandbox
from tests.support.runkit import SECRET, assert_no_secrets, launcher_env, run_launcher

pytestmark = pytest.mark.slow

MANIFEST = """\
version: 1
defaults:
  session_secrets: [{key: TOKEN, value: "${{ env.TEST_SECRET }}"}]
sessions:
  - name: asks
    prompt: Upgrade acme/api to Python 3.12.
    tags: [bulk, "sandbox:work=0.2", "sandbox:end=blocked"]
  - name: done
    prompt: Upgrade acme/web to Python 3.12.
    tags: [bulk, "sandbox:work=0.2", "sandbox:end=finished"]
  - name: chatty
    prompt: Upgrade acme/cli to Python 3.12.
    tags: [bulk, "sandbox:work=0.2", "sandbox:end=finished", "sandbox:chatter=250"]
"""
# A message with a terminal escape (it sets the window title) and a secret value in it.
NUDGE = f"Also add a changelog entry.\x1b]0;pwned\x07 Token: {SECRET}"
Batch = tuple[Path, Path, dict[str, str], SandboxHandle]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    """A batch run once for the module: `asks` ends blocked and is sent NUDGE, `done` ends
    finished, `chatty` writes 250 messages on its way (more than a v3 page holds)."""
    folder = tmp_path_factory.mktemp("log")
    manifest, ledger = folder / "m.yaml", folder / "ledger.jsonl"
    manifest.write_text(MANIFEST)
    config = SandboxConfig(host="127.0.0.1", port=0, api_key=None)
    with running_sandbox(config) as handle:
        env = launcher_env(handle.base_url)
        paths = (str(manifest), "--ledger", str(ledger))
        assert run_launcher("run", *paths, env=env).returncode == 0
        _settled(handle, env, paths)
        sent = run_launcher("message", *paths, "--select", "asks", "--text", NUDGE, env=env)
        assert sent.returncode == 0, sent.stderr
        yield manifest, ledger, env, handle


def _settled(handle: SandboxHandle, env: dict[str, str], paths: tuple[str, ...]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        watch = run_launcher("watch", *paths, "--blocked-ok", "--poll-interval", "0.5", env=env)
        if watch.returncode == 0:
            return
    raise AssertionError("the sandbox sessions did not settle")


def test_log_shows_what_each_session_was_told_and_wrote(
    batch: Batch,
) -> None:
    manifest, ledger, env, _ = batch
    res = run_launcher("log", str(manifest), "--ledger", str(ledger), env=env)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    asks = out[: out.index("== m.yaml#done")]
    assert asks.startswith("== m.yaml#asks  devin-")
    # Each message: a `-- TIMESTAMP  WHO` line, then its text indented; the session works
    # again after the nudge, so what it writes next may follow.
    lines = [line.split("  ")[-1] if line.startswith("--") else line for line in asks.splitlines()]
    lines = [re.sub(r" Pull request: \S+$", "", line) for line in lines]  # if it made one
    assert lines[1:7] == [
        "prompt",
        "   Upgrade acme/api to Python 3.12.",
        "devin",
        "   I need your input to continue.",
        "user",
        "   Also add a changelog entry.\\x1b]0;pwned\\x07 Token: ***",
    ]
    assert "\x1b" not in out and "\x07" not in out  # escaped, never sent to the terminal
    assert "== m.yaml#done" in out and "Done." in out
    assert_no_secrets(res.stdout, res.stderr)


def test_log_jsonl_from_the_ledger_alone(batch: Batch) -> None:
    _, ledger, env, _ = batch
    res = run_launcher("log", str(ledger), "--select", "asks", "--format", "jsonl", env=env)
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert {r["entry"] for r in records} == {"m.yaml#asks"}
    said = [(r["speaker"], r["type"]) for r in records]
    assert said[:3] == [
        ("user", "initial_user_message"),
        ("devin", "devin_message"),
        ("user", "user_message"),
    ]
    assert records[2]["message"].startswith("Also add a changelog entry.\x1b]0;pwned\x07")
    # Without the manifests their secrets are unknown to it: the API key is still redacted.
    assert_no_secrets(res.stderr)


def test_results_messages_adds_the_last_devin_message(
    batch: Batch,
) -> None:
    manifest, ledger, env, _ = batch
    args = ("results", str(manifest), "--ledger", str(ledger))
    plain = [json.loads(line) for line in run_launcher(*args, env=env).stdout.splitlines()]
    assert all("last_devin_message" not in r for r in plain)
    res = run_launcher(*args, "--messages", env=env)
    assert res.returncode == 0, res.stderr
    records = {r["name"]: r for r in map(json.loads, res.stdout.splitlines())}
    assert records["done"]["last_devin_message"].startswith("Done.")
    assert records["asks"]["last_devin_message"] is not None
    csv = run_launcher(*args, "--messages", "--format", "csv", env=env).stdout
    assert csv.splitlines()[0].split(",")[-1] == "last_devin_message"
    assert_no_secrets(res.stdout, res.stderr, csv)


def test_log_on_v3_reads_every_page_of_the_messages(batch: Batch) -> None:
    """The same sessions through the sandbox's v3 side (a service-user key and an
    organisation): each conversation is read page by page, 200 messages a page."""
    manifest, ledger, v1_env, handle = batch
    cog = "cog_e2e_SERVICEUSERKEY_123456"
    env = {**v1_env, "DEVIN_API_KEY": cog, "DEVIN_ORG_ID": "org-e2e"}
    pages_before = handle.stats()["message_gets"]
    res = run_launcher("log", str(manifest), "--ledger", str(ledger), env=env)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    chatty = out[out.index("== m.yaml#chatty") :].splitlines()
    steps = [line for line in chatty if line.startswith("   Working on it: step ")]
    assert steps[0] == "   Working on it: step 1 of 250." and len(steps) == 250
    assert chatty[1].endswith("  prompt") and chatty[2] == "   Upgrade acme/cli to Python 3.12."
    assert chatty[-1].startswith("   Done.")
    # 252 messages for chatty: two pages; one page for each of the others
    assert handle.stats()["message_gets"] - pages_before == 4
    asks = out[: out.index("== m.yaml#done")]
    assert "   Also add a changelog entry.\\x1b]0;pwned\\x07 Token: ***" in asks.splitlines()
    assert "\x1b" not in out and "\x07" not in out
    last = run_launcher("results", str(manifest), "--ledger", str(ledger), "--messages", env=env)
    records = {r["name"]: r for r in map(json.loads, last.stdout.splitlines())}
    assert records["chatty"]["last_devin_message"].startswith("Done.")
    assert_no_secrets(res.stdout, res.stderr, last.stdout, last.stderr)
    assert cog not in res.stdout + res.stderr + last.stdout + last.stderr
