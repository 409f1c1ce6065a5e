"""`launcher run` at the concurrent-session limit, against the real sandbox on 127.0.0.1
with `--concurrent-limit`: what the user sees, what the ledger says, what the server got."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from launcher.cli import main
from launcher.ledger.read import read_state
from launcher.ledger.summary import summarize
from tests.support.runkit import (
    API_KEY,
    assert_no_secrets,
    created,
    read_ledger,
    write_manifest,
)

Sandbox = Any


def run_main(capsys: pytest.CaptureFixture[str], ledger: Path, *args: str) -> tuple[int, str, str]:
    code = main(["run", *args, "--ledger", str(ledger), "--progress", "never"])
    out, err = capsys.readouterr()
    assert_no_secrets(out, err, ledger.read_text() if ledger.exists() else "")
    return code, out, err


@pytest.mark.slow
def test_without_wait_the_run_stops_at_the_limit_and_the_next_run_continues(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox], env: None, capsys: Any
) -> None:
    sb = make_sandbox(concurrent_limit=3, work_seconds=60.0)
    manifest = write_manifest(tmp_path / "m.yaml", 9)
    ledger = tmp_path / "ledger.jsonl"

    began = time.monotonic()
    code, out, err = run_main(capsys, ledger, str(manifest), "--base-url", sb.base_url)
    took = time.monotonic() - began
    assert code == 1
    assert took < 20  # seconds, not the minute the sessions work
    stats = sb.stats()
    assert stats["sessions"] == 3
    lines = [line for line in err.splitlines() if "concurrent-session limit" in line]
    assert lines == [
        "launcher: the organisation is at its concurrent-session limit of 3: 6 entries wait; "
        "run again with the same ledger once sessions end, and the run continues"
    ]
    assert "3 created, 6 pending" in out
    assert "failed" not in out and "failed" not in err
    # The refusals spent no attempt and lowered no pace: no retry was logged for them.
    assert "retry" not in err
    # Pending, not failed, in the ledger's own summary (which exits 0 on it).
    summary = summarize(ledger)
    # Entries the run never sent (the pace's opening window held them back until answers
    # came) are not in the ledger at all; those it sent and were refused are pending.
    assert summary.counts["created"] == 3 and 1 <= summary.counts["pending"] <= 6
    assert summary.counts["failed"] == 0 and not summary.has_problems
    refused = [e for e in read_ledger(ledger) if e.get("at_capacity")]
    assert refused and all(e["event"] == "failed" and e["status"] == 429 for e in refused)
    assert len(refused) == stats["capacity_limited"]

    # Once the sessions end, the next run carries on straight away (no lookups, no
    # waiting out requests "in flight": the ledger knows they were refused), three more
    # each time, until the batch is done.
    for remaining in (3, 0):
        for session in sb.list_sessions():
            if session["status_enum"] == "working":
                sb_terminate(sb, session["session_id"])
        lookups = sb.stats()["list_gets"]
        code, out, err = run_main(capsys, ledger, str(manifest), "--base-url", sb.base_url)
        assert sb.stats()["list_gets"] == lookups  # nothing was looked up
        assert code == (1 if remaining else 0), err
        assert "3 created" in out and f"{6 - remaining} skipped" in out
        if remaining:
            assert f"limit of 3: {remaining} entries wait" in err
    ids = created(read_ledger(ledger))
    assert len(ids) == 9 and len(set(ids.values())) == 9
    assert all(r.outcome == "created" for r in read_state(ledger).records())


def sb_terminate(sb: Sandbox, session_id: str) -> None:
    import httpx

    response = httpx.delete(
        f"{sb.base_url}/v1/sessions/{session_id}",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_a_capacity_429_is_no_throttle_no_breaker_failure_and_no_attempt(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox]
) -> None:
    """The dispatcher as a scheduler drives it (refusals deferred, not stopping), with
    --max-attempts 1: an ordinary 429 would fail every refused entry for good."""
    import io

    import anyio
    import httpx

    from launcher.api.client import DevinClient, Redactor
    from launcher.dispatch.dispatcher import Dispatcher
    from launcher.dispatch.results import EntryResult
    from launcher.dispatch.settings import RunSettings
    from launcher.entry import Entry
    from launcher.ledger.writer import LedgerWriter
    from launcher.output.progress import RunProgress

    sb = make_sandbox(concurrent_limit=2, work_seconds=60.0)
    entries = [
        Entry(name=f"e{i}", file="m.yaml", path="m.yaml", line=1, request={"prompt": f"p{i}"})
        for i in range(6)
    ]
    results = [EntryResult(e) for e in entries]
    settings = RunSettings(base_url=sb.base_url, max_attempts=1, breaker_span=0.5)
    ledger = tmp_path / "l.jsonl"

    async def go() -> Dispatcher:
        async with httpx.AsyncClient(base_url=sb.base_url) as http:
            with LedgerWriter.open(ledger, "run-1") as writer:
                err = io.StringIO()
                progress = RunProgress(6, "text", "never", Redactor([]), io.StringIO(), err)
                d = Dispatcher(settings, DevinClient(http, "k", Redactor([])), writer, {}, progress)
                d.capacity.defer = True
                await d.run(results)
                # Every refused entry, tried again and again, is still only pending.
                for _ in range(3):
                    for r in results:
                        if r.outcome == "pending":
                            await d.run([r])
                return d

    d = anyio.run(go)
    assert [r.outcome for r in results].count("created") == 2
    pending = [r for r in results if r.outcome == "pending"]
    assert len(pending) == 4 and all(r.at_capacity and r.attempts == 0 for r in pending)
    assert sb.stats()["capacity_limited"] >= 4 * 4
    assert d.pace.snapshot.throttles == 0 and d.pace.snapshot.rate is None  # pace untouched
    assert not d.breaker.open and d.stop_reason is None
    assert d.capacity.limit == 2
    records = read_state(ledger).records()
    assert all(r.at_capacity for r in records if r.outcome == "failed")
    assert summarize(ledger).counts == {
        "created": 2,
        "adopted": 0,
        "failed": 0,
        "in_doubt": 0,
        "pending": 4,
    }


def _lives(sb: Sandbox) -> list[dict[str, Any]]:
    return list(sb.stats()["lives"])


@pytest.mark.slow
def test_wait_keeps_the_limit_full_without_failing_anything(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox], env: None, capsys: Any
) -> None:
    sb = make_sandbox(concurrent_limit=3, work_seconds=2.0)
    manifest = write_manifest(tmp_path / "m.yaml", 9)
    ledger = tmp_path / "ledger.jsonl"
    code, out, err = run_main(
        capsys, ledger, str(manifest), "--base-url", sb.base_url, "--wait", "--poll-interval", "1"
    )
    assert code == 0, err
    stats = sb.stats()
    assert stats["sessions"] == 9 and stats["max_working"] == 3
    assert 1 <= stats["capacity_limited"] <= 5  # a handful, not one per attempt
    assert "9 of 9 ended well" in out
    assert "concurrent-session limit 3 (learned from the API)" in err
    assert "at most 3 of this run's sessions worked at once" in err
    summary = summarize(ledger)
    assert summary.counts["created"] == 9 and summary.counts["failed"] == 0
    assert "retry" not in err and "failed" not in err


@pytest.mark.slow
def test_max_active_keeps_every_slot_busy_and_never_more(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox], env: None, capsys: Any
) -> None:
    sb = make_sandbox(work_seconds=3.0)  # no server limit: --max-active alone bounds it
    manifest = write_manifest(tmp_path / "m.yaml", 12)
    ledger = tmp_path / "ledger.jsonl"
    code, out, err = run_main(
        capsys,
        ledger,
        str(manifest),
        "--base-url",
        sb.base_url,
        "--max-active",
        "3",
        "--poll-interval",
        "0.5",
    )
    assert code == 0, err
    assert "12 of 12 ended well" in out
    stats = sb.stats()
    assert stats["sessions"] == 12 and stats["max_working"] == 3
    assert stats["capacity_limited"] == 0
    lives = _lives(sb)
    first = min(life["started"] for life in lives)
    last = max(life["ended"] for life in lives)
    busy = sum(life["worked"] for life in lives) / (3 * (last - first))
    assert busy >= 0.85, f"slots busy {busy:.0%} of the time"
    # Manifest order: each entry's session was created no later than the next one's.
    starts = [life["started"] for life in lives]
    assert starts == sorted(starts)
    created_order = [e["entry"] for e in read_ledger(ledger) if e["event"] == "created"]
    assert created_order == [f"m.yaml#task-{i}" for i in range(12)]


@pytest.mark.slow
def test_settled_sessions_holding_slots_need_terminate_settled(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox], env: None, capsys: Any
) -> None:
    sb = make_sandbox(concurrent_limit=2, work_seconds=1.0, settled_holds_slot=True)
    manifest = write_manifest(tmp_path / "m.yaml", 5)
    common = ("--base-url", sb.base_url, "--wait", "--poll-interval", "0.5")

    # Without --terminate-settled: stuck after two, and it says why instead of hanging.
    ledger = tmp_path / "stuck.jsonl"
    code, out, err = run_main(capsys, ledger, str(manifest), *common, "--wait-timeout", "6")
    assert code == 1
    assert sb.stats()["sessions"] == 2
    stuck = [line for line in err.splitlines() if "--terminate-settled" in line]
    assert len(stuck) == 1, err
    assert "2 of them have settled but may still hold slots" in stuck[0]
    assert "2 of 5 ended well (2 finished, 3 not created)" in out
    assert "still waiting for a slot" in out  # refused at the limit: pending, not failed
    assert summarize(ledger).counts["failed"] == 0

    # With it: each session is terminated once its final status is recorded; all finish.
    sb2 = make_sandbox(concurrent_limit=2, work_seconds=1.0, settled_holds_slot=True)
    ledger = tmp_path / "done.jsonl"
    code, out, err = run_main(
        capsys,
        ledger,
        str(manifest),
        "--base-url",
        sb2.base_url,
        "--wait",
        "--poll-interval",
        "0.5",
        "--terminate-settled",
    )
    assert code == 0, err
    stats = sb2.stats()
    assert stats["sessions"] == 5 and stats["deletes"] == 5 and stats["max_slots_held"] <= 2
    assert "5 of 5 ended well" in out
    # The final status was recorded before each session was terminated.
    finished = [e for e in read_ledger(ledger) if e.get("status_enum") == "finished"]
    assert len(finished) == 5


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (("--max-active", "0"), "--max-active: must be at least 1, got 0"),
        (("--max-active", "two"), "--max-active: 'two' is not a whole number"),
        (("--wait", "--probe-interval", "0"), "--probe-interval: must be a positive number"),
    ],
)
@pytest.mark.slow
def test_bad_capacity_flags_are_usage_errors_before_anything_is_sent(
    tmp_path: Path,
    make_sandbox: Callable[..., Sandbox],
    env: None,
    capsys: Any,
    flags: tuple[str, ...],
    words: str,
) -> None:
    sb = make_sandbox(concurrent_limit=3)
    manifest = write_manifest(tmp_path / "m.yaml", 2)
    code, _out, err = run_main(
        capsys, tmp_path / "l.jsonl", str(manifest), "--base-url", sb.base_url, *flags
    )
    assert code == 2
    assert words in err and "Traceback" not in err
    assert sb.stats()["requests"] == 0


@pytest.mark.slow
def test_hourly_runs_with_max_active_continue_the_batch(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox], env: None, capsys: Any
) -> None:
    """The cron variant: each run keeps N working until its --wait-timeout, the next one
    carries on; nothing is created twice and no create is cut off in flight."""
    sb = make_sandbox(concurrent_limit=2, work_seconds=1.0)
    manifest = write_manifest(tmp_path / "m.yaml", 6)
    ledger = tmp_path / "ledger.jsonl"
    args = (str(manifest), "--base-url", sb.base_url, "--max-active", "2", "--poll-interval", "0.3")

    code, out, err = run_main(capsys, ledger, *args, "--wait-timeout", "1.5")
    assert code == 1, err
    first = sb.stats()["sessions"]
    assert 2 <= first < 6
    assert "not created" in out and "failed" not in out
    assert summarize(ledger).counts["failed"] == 0
    assert not any(r.outcome == "sending" for r in read_state(ledger).records())

    lookups = sb.stats()["list_gets"]
    code, out, err = run_main(capsys, ledger, *args)
    assert code == 0, err
    assert sb.stats()["sessions"] == 6  # the rest, and nothing twice
    ids = created(read_ledger(ledger))
    assert len(ids) == 6 and len(set(ids.values())) == 6
    assert "6 of 6 ended well" in out
    assert sb.stats()["list_gets"] > lookups  # the second run watched the first's sessions too


@pytest.mark.slow
def test_signals_during_wait_stop_new_starts_then_terminate_and_leave_the_rest_pending(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox]
) -> None:
    import signal

    from tests.support.runkit import launcher_env, start_launcher

    sb = make_sandbox(concurrent_limit=3, work_seconds=60.0)
    manifest = write_manifest(tmp_path / "m.yaml", 9)
    ledger = tmp_path / "ledger.jsonl"
    proc = start_launcher(
        "run",
        str(manifest),
        "--ledger",
        str(ledger),
        "--wait",
        "--poll-interval",
        "0.5",
        "--progress",
        "never",
        env=launcher_env(sb.base_url),
    )
    deadline = time.monotonic() + 30
    while sb.stats()["sessions"] < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # a refusal or two, and a poll
    proc.send_signal(signal.SIGINT)
    time.sleep(1.5)  # the first signal starts nothing new, and keeps watching
    assert proc.poll() is None and sb.stats()["sessions"] == 3
    proc.send_signal(signal.SIGINT)  # the second terminates the run's active sessions
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "SIGINT: starting nothing new" in err
    assert sb.stats()["sessions"] == 3 and sb.stats()["deletes"] == 3
    summary = summarize(ledger)
    assert summary.counts["created"] == 3 and summary.counts["failed"] == 0
    assert summary.statuses == {"cancelled": 3}
    assert_no_secrets(out, err, ledger.read_text())


@pytest.mark.slow
def test_sessions_of_an_earlier_run_are_polled_once_not_given_slots_in_turn(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox], env: None, capsys: Any
) -> None:
    """A batch created without --wait, then continued with --max-active: the settled
    sessions of the first run take no slot, so the new entries start at once."""
    sb = make_sandbox(work_seconds=0.5)
    manifest = write_manifest(tmp_path / "m.yaml", 8)
    ledger = tmp_path / "ledger.jsonl"
    code, _out, err = run_main(capsys, ledger, str(manifest), "--base-url", sb.base_url)
    assert code == 0, err
    time.sleep(1.0)  # they all finish; the ledger has no status for them yet
    write_manifest(tmp_path / "m.yaml", 10)  # two more entries
    began = time.monotonic()
    code, out, err = run_main(
        capsys,
        ledger,
        str(manifest),
        "--base-url",
        sb.base_url,
        "--max-active",
        "1",
        "--poll-interval",
        "2",
    )
    took = time.monotonic() - began
    assert code == 0, err
    assert "10 of 10 ended well" in out and sb.stats()["sessions"] == 10
    # Two new sessions one after the other: about two polls, not one per earlier session.
    assert took < 12, f"{took:.1f}s"
