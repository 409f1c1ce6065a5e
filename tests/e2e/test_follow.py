"""Follow-through against the real sandbox over loopback: the
launcher runs in a child process; the sandbox's stats say what it was sent."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from launcher.sandbox.handle import SandboxHandle
from tests.support.runkit import (
    API_KEY,
    SECRET,
    assert_no_secrets,
    launcher_env,
    read_ledger,
    run_launcher,
    start_launcher,
    write_follow_manifest,
)


def stats(handle: SandboxHandle) -> dict[str, Any]:
    return dict(httpx.get(f"{handle.base_url}/_sandbox/stats", timeout=10).json())


def twelve(tmp_path: Path) -> Path:
    specs: list[tuple[str, Sequence[str]]] = [
        (f"ok-{i}", ("sandbox:work=1", "sandbox:end=finished", "sandbox:output=valid"))
        for i in range(9)
    ]
    specs += [
        ("expires", ("sandbox:work=2", "sandbox:end=expired")),
        ("blocks", ("sandbox:work=1", "sandbox:end=blocked", "sandbox:output=valid")),
        ("bad-output", ("sandbox:work=2", "sandbox:end=finished", "sandbox:output=invalid")),
    ]
    return write_follow_manifest(tmp_path / "m.yaml", specs)


@pytest.mark.slow
def test_watch_then_results_over_twelve_entries(
    tmp_path: Path, make_sandbox: Callable[..., SandboxHandle]
) -> None:
    handle = make_sandbox()
    env = launcher_env(handle.base_url)
    manifest, ledger = twelve(tmp_path), str(tmp_path / "l.jsonl")
    run = run_launcher("run", str(manifest), "--ledger", ledger, env=env)
    assert run.returncode == 0, run.stderr
    started = time.monotonic()
    watch = run_launcher(
        "watch", str(manifest), "--ledger", ledger, "--poll-interval", "1", env=env
    )
    took = time.monotonic() - started
    assert watch.returncode == 1, watch.stderr
    assert took < 2 + 15, "watch should end within a few seconds of the last session settling"
    assert "m.yaml#expires  expired" in watch.stdout
    assert "m.yaml#blocks  blocked" in watch.stdout
    assert "m.yaml#bad-output  finished, output does not conform: $" in watch.stdout
    assert "9 of 12 ended well" in watch.stdout

    out = {}
    for fmt in ("jsonl", "csv", "json"):
        res = run_launcher("results", str(manifest), "--ledger", ledger, "--format", fmt, env=env)
        assert res.returncode == 0, res.stderr
        out[fmt] = res.stdout
    records = [json.loads(line) for line in out["jsonl"].splitlines()]
    assert records == json.loads(out["json"])["entries"]
    assert [r["name"] for r in records] == [
        *(f"ok-{i}" for i in range(9)),
        "expires",
        "blocks",
        "bad-output",
    ]
    by_name = {r["name"]: r for r in records}
    for i in range(9):
        r = by_name[f"ok-{i}"]
        assert r["status"] == "finished" and r["output_valid"] is True
        assert r["pull_request_url"].startswith("https://")
        assert isinstance(r["structured_output"]["summary"], str)
    assert by_name["expires"]["status"] == "expired"
    assert by_name["blocks"]["status"] == "blocked"
    bad = by_name["bad-output"]
    assert bad["status"] == "finished" and bad["output_valid"] is False
    assert bad["output_errors"][0]["path"].startswith("$")
    rows = list(csv.DictReader(io.StringIO(out["csv"])))
    assert len(rows) == 12 and rows[0]["status"] == "finished"
    assert json.loads(rows[0]["structured_output"]) == by_name["ok-0"]["structured_output"]

    before = stats(handle)
    again = run_launcher(
        "watch", str(manifest), "--ledger", ledger, "--poll-interval", "1", env=env, timeout=20
    )
    after = stats(handle)
    assert again.returncode == 1 and "9 of 12 ended well" in again.stdout
    assert after["list_gets"] == before["list_gets"]
    assert after["single_gets"] == before["single_gets"]
    summary = run_launcher("ledger", "summary", ledger, env=env)
    assert "sessions: blocked 1  expired 1  finished 10" in summary.stdout
    text = "".join([run.stdout, run.stderr, watch.stdout, watch.stderr, *out.values()])
    assert_no_secrets(text, Path(ledger).read_text())


@pytest.mark.slow
def test_run_wait_blocked_ok_exits_0(
    tmp_path: Path, make_sandbox: Callable[..., SandboxHandle]
) -> None:
    handle = make_sandbox()
    env = launcher_env(handle.base_url)
    specs = [
        ("done", ("sandbox:work=1", "sandbox:end=finished", "sandbox:output=valid")),
        ("waits", ("sandbox:work=1", "sandbox:end=blocked", "sandbox:output=valid")),
    ]
    manifest, ledger = write_follow_manifest(tmp_path / "m.yaml", specs), tmp_path / "l.jsonl"
    args = ("run", str(manifest), "--ledger", str(ledger), "--wait", "--poll-interval", "1")
    res = run_launcher(*args, "--blocked-ok", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 of 2 ended well" in res.stdout
    statuses = [e["status_enum"] for e in read_ledger(ledger) if e["event"] == "status"]
    assert "blocked" in statuses and "finished" in statuses
    events = read_ledger(ledger)
    batches = {e.get("batch") for e in events if e["event"] in ("sending", "created")}
    assert len(batches) == 1 and next(iter(batches)).startswith("launcher-batch:")
    assert_no_secrets(res.stdout, res.stderr, ledger.read_text())


@pytest.mark.slow
def test_watch_killed_mid_poll_resumes(
    tmp_path: Path, make_sandbox: Callable[..., SandboxHandle]
) -> None:
    handle = make_sandbox(latency_ms=150)
    env = launcher_env(handle.base_url)
    specs = [(f"t{i}", (f"sandbox:work={2 + i % 3}", "sandbox:end=finished")) for i in range(6)]
    manifest, ledger = write_follow_manifest(tmp_path / "m.yaml", specs), tmp_path / "l.jsonl"
    assert run_launcher("run", str(manifest), "--ledger", str(ledger), env=env).returncode == 0
    proc = start_launcher(
        "watch", str(manifest), "--ledger", str(ledger), "--poll-interval", "0.3", env=env
    )
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    term = start_launcher(
        "watch", str(manifest), "--ledger", str(ledger), "--poll-interval", "0.3", env=env
    )
    time.sleep(1.0)
    term.send_signal(signal.SIGTERM)
    _, err = term.communicate(timeout=20)
    assert term.returncode == 130 and "interrupted" in err
    res = run_launcher(
        "watch", str(manifest), "--ledger", str(ledger), "--poll-interval", "0.5", env=env
    )
    assert res.returncode == 0, res.stdout + res.stderr
    events = read_ledger(ledger)  # parses: every line is JSON
    per_key: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        if e["event"] == "status":
            per_key.setdefault(e["key"], []).append(e)
    assert len(per_key) == 6
    for seq in per_key.values():
        shown = [(e["status_enum"], json.dumps(e.get("structured_output"))) for e in seq]
        assert all(a != b for a, b in itertools.pairwise(shown)), "a change recorded twice"
        settled = [i for i, e in enumerate(seq) if e["status_enum"] == "finished"]
        assert settled and settled[0] == len(seq) - 1, "a change after settling, out of order"


@pytest.mark.slow
def test_cancel_terminates_exactly_the_active_sessions(
    tmp_path: Path, make_sandbox: Callable[..., SandboxHandle]
) -> None:
    handle = make_sandbox()
    env = launcher_env(handle.base_url)
    specs = [
        ("quick", ("sandbox:work=0.2", "sandbox:end=finished")),
        ("long-a", ("sandbox:work=120",)),
        ("long-b", ("sandbox:work=120",)),
        ("other", ("sandbox:work=120",)),
    ]
    manifest, ledger = write_follow_manifest(tmp_path / "m.yaml", specs), tmp_path / "l.jsonl"
    assert run_launcher("run", str(manifest), "--ledger", str(ledger), env=env).returncode == 0
    time.sleep(1.0)  # `quick` has finished by now
    watching = start_launcher("watch", str(manifest), "--ledger", str(ledger), env=env)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _holder(ledger):
            time.sleep(0.1)  # the ledger names its holder once the watch holds it
        held = run_launcher("cancel", str(manifest), "--ledger", str(ledger), env=env)
        assert held.returncode == 4 and "is held by run" in held.stderr
    finally:
        watching.kill()
        watching.communicate(timeout=10)
    assert stats(handle)["deletes"] == 0
    res = run_launcher(
        "cancel",
        str(manifest),
        "--ledger",
        str(ledger),
        "--select",
        "long-*",
        "--select",
        "quick",
        env=env,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert stats(handle)["deletes"] == 2
    assert "2 terminated, 0 had already exited, 0 failed" in res.stdout
    cancelled = [e["name"] for e in read_ledger(ledger) if e["event"] == "cancelled"]
    assert sorted(cancelled) == ["long-a", "long-b"]
    before = stats(handle)
    watch = run_launcher(
        "watch",
        str(manifest),
        "--ledger",
        str(ledger),
        "--select",
        "long-*",
        "--select",
        "quick",
        "--poll-interval",
        "1",
        env=env,
        timeout=20,
    )
    assert watch.returncode == 1  # cancelled entries did not end well
    assert "m.yaml#long-a  cancelled" in watch.stdout
    assert stats(handle)["list_gets"] == before["list_gets"]
    again = run_launcher("cancel", str(manifest), "--ledger", str(ledger), env=env)
    assert again.returncode == 0 and stats(handle)["deletes"] == 3  # only `other` was left
    assert_no_secrets(res.stdout, res.stderr, watch.stdout, ledger.read_text())


@pytest.mark.slow
def test_message_reaches_exactly_the_blocked_sessions_once(
    tmp_path: Path, make_sandbox: Callable[..., SandboxHandle]
) -> None:
    handle = make_sandbox()
    env = launcher_env(handle.base_url)
    specs = [
        ("b1", ("sandbox:work=0.2", "sandbox:end=blocked")),
        ("b2", ("sandbox:work=0.2", "sandbox:end=blocked")),
        ("done", ("sandbox:work=0.2", "sandbox:end=finished")),
        ("busy", ("sandbox:work=120",)),
    ]
    manifest, ledger = write_follow_manifest(tmp_path / "m.yaml", specs), tmp_path / "l.jsonl"
    assert run_launcher("run", str(manifest), "--ledger", str(ledger), env=env).returncode == 0
    time.sleep(1.0)
    args = ("message", str(manifest), "--ledger", str(ledger), "--status", "blocked")
    res = run_launcher(*args, "--text", f"also add a changelog entry {SECRET}", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert stats(handle)["messages"] == 2 and "2 sent" in res.stdout
    again = run_launcher(*args, "--text", f"also add a changelog entry {SECRET}", env=env)
    assert again.returncode == 0 and stats(handle)["messages"] == 2
    events = [e for e in read_ledger(ledger) if e["event"] == "message"]
    assert sorted((e["name"], e["state"]) for e in events) == [
        ("b1", "sending"),
        ("b1", "sent"),
        ("b2", "sending"),
        ("b2", "sent"),
    ]
    for name in ("b1", "b2"):
        got = httpx.get(f"{handle.base_url}/v1/sessions/{_sid(ledger, name)}", timeout=10).json()
        assert sum("changelog" in str(m.get("message")) for m in got["messages"]) == 1
    assert_no_secrets(res.stdout, res.stderr, again.stdout, ledger.read_text())


def _sid(ledger: Path, name: str) -> str:
    return next(
        e["session_id"]
        for e in read_ledger(ledger)
        if e["event"] == "created" and e["name"] == name
    )


@pytest.mark.slow
def test_polling_250_sessions_costs_a_few_lists_per_poll(
    tmp_path: Path, make_sandbox: Callable[..., SandboxHandle]
) -> None:
    handle = make_sandbox(work_seconds=3.0, work_spread=1.0, seed=7)
    env = launcher_env(handle.base_url)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "version: 1\nsessions:\n  - name: t-${{ matrix.i }}\n    matrix:\n"
        f"      i: [{', '.join(map(str, range(250)))}]\n    prompt: Do ${{{{ matrix.i }}}}\n"
    )
    ledger = tmp_path / "l.jsonl"
    run = run_launcher("run", str(manifest), "--ledger", str(ledger), env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    before = stats(handle)
    watch = run_launcher(
        "watch",
        str(manifest),
        "--ledger",
        str(ledger),
        "--poll-interval",
        "1",
        "--format",
        "json",
        env=env,
        timeout=120,
    )
    assert watch.returncode == 0, watch.stderr
    doc = json.loads(watch.stdout)
    after = stats(handle)
    gets = (after["list_gets"] - before["list_gets"]) + (
        after["single_gets"] - before["single_gets"]
    )
    assert doc["requests"] == gets and doc["polls"] >= 2
    assert gets <= doc["polls"] * (math.ceil(250 / 100) + 1)
    assert after["single_gets"] == before["single_gets"]
    assert doc["ended_well"] == 250


@pytest.mark.slow
def test_no_secret_or_api_key_in_follow_output(
    tmp_path: Path, make_sandbox: Callable[..., SandboxHandle]
) -> None:
    handle = make_sandbox(api_key=API_KEY)
    env = launcher_env(handle.base_url)
    manifest = twelve(tmp_path)
    with manifest.open("a") as f:  # one more that works on past --wait-timeout
        f.write('  - name: long\n    prompt: Long\n    tags: ["sandbox:work=120"]\n')
    ledger = tmp_path / "l.jsonl"
    common = ("--ledger", str(ledger))
    wait = ("--wait", "--poll-interval", "1", "--wait-timeout", "6", "--format", "json")
    outs = [run_launcher("run", str(manifest), *common, *wait, env=env)]
    assert outs[0].returncode == 1
    assert json.loads(outs[0].stdout)["timed_out"] is True
    for fmt in ("jsonl", "csv", "json"):
        outs.append(run_launcher("results", str(manifest), *common, "--format", fmt, env=env))
    outs.append(run_launcher("ledger", "summary", str(ledger), "--format", "json", env=env))
    wrong = launcher_env(handle.base_url, DEVIN_API_KEY="apk_wrong_" + SECRET)
    for command in ("watch", "cancel"):
        denied = run_launcher(command, str(manifest), *common, env=wrong)
        assert denied.returncode == 3, denied.stderr
        assert "rejected the credentials" in denied.stderr
        outs.append(denied)
    assert_no_secrets(ledger.read_text(), *(o.stdout + o.stderr for o in outs))


@pytest.mark.slow
def test_bad_follow_arguments_are_usage_errors(tmp_path: Path) -> None:
    manifest = write_follow_manifest(tmp_path / "m.yaml", [("a", ())])
    ledger = str(tmp_path / "none.jsonl")
    env = launcher_env("http://127.0.0.1:9")
    cases = [
        (("results", str(manifest), "--ledger", ledger), "no ledger at"),
        (("watch", str(manifest), "--ledger", ledger, "--poll-interval", "0"), "--poll-interval"),
        (("message", str(manifest), "--ledger", ledger), "give the message as TEXT or with"),
        (
            ("message", str(manifest), "--ledger", ledger, "--file", str(tmp_path / "nope")),
            "cannot read --file",
        ),
        (("watch", str(tmp_path / "missing.yaml"), "--ledger", ledger), "missing.yaml"),
    ]
    for args, words in cases:
        res = run_launcher(*args, env=env)
        assert res.returncode == 2, (args, res.stderr)
        assert words in res.stdout + res.stderr and "Traceback" not in res.stderr
    # The one base-URL and API-key check `run` makes, for every follow command.
    run_launcher("run", str(manifest), "--ledger", ledger, "--sandbox", env=env)
    for command in ("watch", "cancel", "message"):
        text = ("--text", "hi") if command == "message" else ()
        no_key = run_launcher(
            command, str(manifest), "--ledger", ledger, *text, env={**env, "DEVIN_API_KEY": ""}
        )
        assert no_key.returncode == 2 and "DEVIN_API_KEY (the API key)" in no_key.stderr
        bad_url = ("--base-url", "ftp://example.com")
        res = run_launcher(command, str(manifest), "--ledger", ledger, *bad_url, *text, env=env)
        assert res.returncode == 2 and "is not an http(s) URL" in res.stderr


def _holder(ledger: Path) -> bytes:
    """The holder a running launcher writes on the ledger file itself (an extended
    attribute), so that every name of the file finds it."""
    from launcher.ledger.writer import HOLDER_XATTR

    try:
        return os.getxattr(ledger, HOLDER_XATTR)
    except OSError:
        return b""


@pytest.mark.slow
def test_compact_keeps_what_watch_and_message_know(
    tmp_path: Path, make_sandbox: Callable[..., SandboxHandle]
) -> None:
    """A compacted ledger still knows each session's batch tag, its settled status and the
    messages already sent: watch answers at once, message sends nothing twice, run nothing."""
    handle = make_sandbox()
    env = launcher_env(handle.base_url)
    specs = [
        ("b1", ("sandbox:work=0.2", "sandbox:end=blocked")),
        ("done", ("sandbox:work=0.2", "sandbox:end=finished", "sandbox:output=valid")),
    ]
    manifest, ledger = write_follow_manifest(tmp_path / "m.yaml", specs), tmp_path / "l.jsonl"
    watch = ("watch", str(manifest), "--ledger", str(ledger), "--poll-interval", "1")
    assert run_launcher("run", str(manifest), "--ledger", str(ledger), env=env).returncode == 0
    assert run_launcher(*watch, "--blocked-ok", env=env).returncode == 0
    nudge = ("message", str(manifest), "--ledger", str(ledger))
    assert run_launcher(*nudge, "--text", "also add a changelog entry", env=env).returncode == 0
    assert run_launcher(*watch, "--blocked-ok", env=env).returncode == 0  # both work again
    before = stats(handle)
    lines_before = len(read_ledger(ledger))

    assert run_launcher("ledger", "compact", str(ledger), env=env).returncode == 0
    assert len(read_ledger(ledger)) < lines_before
    again = run_launcher(*nudge, "--text", "also add a changelog entry", env=env)
    settled = run_launcher(*watch, "--blocked-ok", env=env)
    rerun = run_launcher("run", str(manifest), "--ledger", str(ledger), env=env)
    after = stats(handle)
    assert again.returncode == 0 and settled.returncode == 0 and rerun.returncode == 0
    assert after["messages"] == before["messages"] == 2  # the same text is never sent twice
    assert after["sessions"] == before["sessions"] == 2  # nothing created again
    assert after["list_gets"] == before["list_gets"]  # every entry settled: nothing to list
    batches = {e.get("batch") for e in read_ledger(ledger) if e["event"] == "created"}
    assert len(batches) == 1 and None not in batches
