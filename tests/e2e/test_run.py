"""`launcher run` against the real sandbox on 127.0.0.1: what the user and the server see.

Every test also checks that no secret value and no API key reached stdout, stderr or the
ledger.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from launcher.cli import main
from launcher.dispatch.ending import BreakerOpen, reason
from launcher.ledger.read import read_state
from tests.support.paths import EXAMPLES
from tests.support.runkit import (
    API_KEY,
    SECRET,
    MakeSandbox,
    assert_no_secrets,
    created,
    launcher_env,
    read_ledger,
    run_launcher,
    start_launcher,
    write_manifest,
)


def run_main(capsys: pytest.CaptureFixture[str], ledger: Path, *args: str) -> tuple[int, str, str]:
    code = main(["run", *args, "--ledger", str(ledger)])
    out, err = capsys.readouterr()
    assert_no_secrets(out, err, ledger.read_text() if ledger.exists() else "")
    return code, out, err


@pytest.mark.slow
def test_run_then_rerun_and_other_cwd_send_nothing(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb = make_sandbox()
    folder = tmp_path / "manifests"
    write_manifest(folder / "a.yaml", 6, prefix="alpha")
    write_manifest(folder / "sub" / "b.yaml", 4, prefix="beta", idempotent=True)
    ledger = tmp_path / "ledger.jsonl"
    monkeypatch.chdir(tmp_path)

    code, out, _ = run_main(capsys, ledger, "manifests", "--base-url", sb.base_url)
    assert code == 0
    assert sb.stats()["sessions"] == 10 and sb.stats()["requests"] == 10
    events = read_ledger(ledger)
    ids = created(events)
    assert sorted(ids) == sorted(
        [f"a.yaml#alpha-{i}" for i in range(6)] + [f"sub/b.yaml#beta-{i}" for i in range(4)]
    )
    server_ids = {s["session_id"] for s in sb.list_sessions()}
    assert set(ids.values()) == server_ids
    assert out.count("created  ") == 10  # each URL printed as it is created

    # The same run again: nothing is sent.
    code, out, err = run_main(capsys, ledger, "manifests", "--base-url", sb.base_url)
    assert code == 0 and sb.stats()["requests"] == 10
    assert "nothing to send: all 10 entries of batch " in err and out == ""

    # From another working directory, through another spelling of the path.
    elsewhere = tmp_path / "x" / "y"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    code, _, _ = run_main(capsys, ledger, "../../manifests/", "--base-url", sb.base_url)
    assert code == 0 and sb.stats()["requests"] == 10


def test_json_output_lists_every_entry(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 3)
    ledger = tmp_path / "l.jsonl"
    code, out, _ = run_main(
        capsys, ledger, str(tmp_path / "m.yaml"), "--base-url", sb.base_url, "--format", "json"
    )
    doc = json.loads(out)
    assert code == 0
    assert (doc["created"], doc["adopted"], doc["skipped"], doc["failed"], doc["in_doubt"]) == (
        3,
        0,
        0,
        0,
        0,
    )
    assert doc["ledger"] == str(ledger)
    assert {e["name"] for e in doc["entries"]} == {"task-0", "task-1", "task-2"}
    assert all(e["session_id"].startswith("devin-") and e["url"] for e in doc["entries"])


@pytest.mark.slow
def test_rate_limited_server_every_entry_once_and_no_early_retry(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = make_sandbox(rate=20.0, burst=2)
    write_manifest(tmp_path / "m.yaml", 40)
    ledger = tmp_path / "l.jsonl"
    code, _, _ = run_main(
        capsys,
        ledger,
        str(tmp_path),
        "--base-url",
        sb.base_url,
        "--concurrency",
        "8",
        "--max-attempts",
        "20",
    )
    stats = sb.stats()
    assert code == 0
    assert stats["sessions"] == 40 and stats["duplicate_bodies"] == 0
    assert stats["rate_limited"] > 0  # the server did push back
    assert stats["early_retries"] == 0  # and no retry came before its Retry-After
    assert len(created(read_ledger(ledger))) == 40


@pytest.mark.slow
def test_fixed_rate_is_smooth_and_in_flight_bounded(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = make_sandbox(latency_ms=150)
    write_manifest(tmp_path / "m.yaml", 30)
    rate = 25.0
    code, _, _ = run_main(
        capsys,
        tmp_path / "l.jsonl",
        str(tmp_path),
        "--base-url",
        sb.base_url,
        "--rate",
        str(rate),
        "--concurrency",
        "3",
    )
    assert code == 0
    stats = sb.stats()
    assert stats["max_in_flight"] <= 3
    starts = sorted(r["t"] for r in sb.requests_log())
    assert len(starts) == 30
    tolerance = 0.004  # loopback scheduling jitter, seconds
    for i, t0 in enumerate(starts):
        for w in (0.1, 0.25, 0.5, 1.0):
            in_window = sum(1 for t in starts[i:] if t < t0 + w - tolerance)
            assert in_window <= rate * w + 1, (w, in_window)


@pytest.mark.slow
def test_concurrency_bound_without_rate(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = make_sandbox(latency_ms=100)
    write_manifest(tmp_path / "m.yaml", 24)
    code, _, _ = run_main(
        capsys, tmp_path / "l.jsonl", str(tmp_path), "--base-url", sb.base_url, "--concurrency", "4"
    )
    assert code == 0
    assert 2 <= sb.stats()["max_in_flight"] <= 4


def test_wrong_api_key_exits_3_after_one_request(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb = make_sandbox(api_key="the-right-key")
    write_manifest(tmp_path / "m.yaml", 50)
    code, _, err = run_main(
        capsys, tmp_path / "l.jsonl", str(tmp_path), "--base-url", sb.base_url, "--concurrency", "4"
    )
    assert code == 3
    assert sb.stats()["requests"] == 1  # the first request goes alone
    assert "rejected the credentials" in err and "DEVIN_API_KEY" in err
    assert sb.stats()["sessions"] == 0


def test_invalid_manifest_anywhere_sends_nothing(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = make_sandbox()
    write_manifest(tmp_path / "good.yaml", 5)
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "bad.yaml").write_text(
        "version: 1\nsessions:\n  - name: x\n    promt: typo\n"
    )
    code, out, _ = run_main(capsys, tmp_path / "l.jsonl", str(tmp_path), "--base-url", sb.base_url)
    assert code == 2
    assert "bad.yaml:4" in out and "prompt" in out
    assert sb.stats()["requests"] == 0
    assert not (tmp_path / "l.jsonl").exists()


def test_missing_environment_is_named_before_anything_is_sent(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 2)
    monkeypatch.delenv("TEST_SECRET")
    monkeypatch.delenv("DEVIN_API_KEY")
    code, _, err = run_main(capsys, tmp_path / "l.jsonl", str(tmp_path), "--base-url", sb.base_url)
    assert code == 2
    assert "DEVIN_API_KEY" in err and "TEST_SECRET" in err and "m.yaml#task-0" in err
    assert sb.stats()["requests"] == 0


@pytest.mark.slow
def test_second_run_on_a_held_ledger_exits_4_at_once_naming_the_holder(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
) -> None:
    sb = make_sandbox(latency_ms=200)
    write_manifest(tmp_path / "m.yaml", 30)
    ledger = tmp_path / "l.jsonl"
    args = ("run", str(tmp_path), "--ledger", str(ledger), "--concurrency", "1")
    env = launcher_env(sb.base_url)
    first = start_launcher(*args, env=env)
    try:
        deadline = time.monotonic() + 20
        while sb.stats()["requests"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        second = run_launcher(*args, env=env, timeout=15)
        assert second.returncode == 4
        assert f"pid {first.pid}" in second.stderr and "held by" in second.stderr
        assert_no_secrets(second.stdout, second.stderr)
    finally:
        first.kill()
        first.communicate()


def test_non_idempotent_in_doubt_without_tag_room_is_reported_never_resent(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = make_sandbox(fail_rate=0.4, drop_rate=0.3, seed=7)
    full = [f"t{i}" for i in range(50)]  # 50 tags: no room for the reconciliation tag
    write_manifest(tmp_path / "m.yaml", 20, tags=full)
    ledger = tmp_path / "l.jsonl"
    code, _, err = run_main(
        capsys, ledger, str(tmp_path), "--base-url", sb.base_url, "--reconcile-delay", "0.05"
    )
    stats = sb.stats()
    assert code == 1
    assert stats["duplicate_bodies"] == 0
    events = read_ledger(ledger)
    doubts = {e["entry"] for e in events if e["event"] == "in_doubt"}
    assert doubts and "in doubt" in err
    assert "20 entries already have 50 tags" in err  # warned before anything was sent
    sending = [e for e in events if e["event"] == "sending"]
    for entry in doubts:  # sent once, never again
        assert sum(1 for e in sending if e["entry"] == entry) == 1


@pytest.mark.slow
def test_non_idempotent_faults_are_reconciled_to_exactly_one_session(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = make_sandbox(fail_rate=0.2, drop_rate=0.2, seed=11)
    write_manifest(tmp_path / "m.yaml", 30)
    ledger = tmp_path / "l.jsonl"
    code, _, _ = run_main(
        capsys,
        ledger,
        str(tmp_path),
        "--base-url",
        sb.base_url,
        "--reconcile-delay",
        "0.05",
        "--max-attempts",
        "15",
    )
    stats = sb.stats()
    assert code == 0
    assert stats["sessions"] == 30 and stats["duplicate_bodies"] == 0
    events = read_ledger(ledger)
    assert len(created(events)) == 30
    assert any(e.get("reconciled") for e in events if e["event"] == "created")


@pytest.mark.slow
def test_idempotent_faults_end_created_once(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = make_sandbox(fail_rate=0.2, drop_rate=0.2, seed=3)
    write_manifest(tmp_path / "m.yaml", 30, idempotent=True)
    ledger = tmp_path / "l.jsonl"
    code, _out, _ = run_main(
        capsys, ledger, str(tmp_path), "--base-url", sb.base_url, "--max-attempts", "15"
    )
    assert code == 0
    assert sb.stats()["sessions"] == 30
    assert len(created(read_ledger(ledger))) == 30


@pytest.mark.slow
def test_503s_are_retried_to_success_after_their_retry_after(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = make_sandbox(unavailable_rate=0.3, seed=5)
    write_manifest(tmp_path / "m.yaml", 12)
    ledger = tmp_path / "l.jsonl"
    code, _, err = run_main(
        capsys, ledger, str(tmp_path), "--base-url", sb.base_url, "--max-attempts", "20"
    )
    stats = sb.stats()
    assert code == 0
    assert stats["unavailable"] > 0 and "HTTP 503" in err
    assert stats["sessions"] == 12 and stats["duplicate_bodies"] == 0
    assert stats["early_retries"] == 0
    assert len(created(read_ledger(ledger))) == 12


def test_ledger_folder_is_a_file_exits_2_before_any_request(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 3)
    (tmp_path / "state").write_text("I am a file, not a folder\n")
    code = main(
        [
            "run",
            str(tmp_path / "m.yaml"),
            "--ledger",
            str(tmp_path / "state" / "l.jsonl"),
            "--base-url",
            sb.base_url,
        ]
    )
    _, err = capsys.readouterr()
    assert code == 2
    assert "state" in err and "Traceback" not in err
    assert sb.stats()["requests"] == 0


def test_select_dispatches_only_matching_entries_and_plan_reads_the_ledger(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = make_sandbox()
    manifest = write_manifest(tmp_path / "m.yaml", 12)
    ledger = tmp_path / "l.jsonl"
    code, _, _ = run_main(
        capsys, ledger, str(manifest), "--base-url", sb.base_url, "--select", "task-1*"
    )
    assert code == 0
    assert sorted(created(read_ledger(ledger))) == sorted(f"m.yaml#task-{i}" for i in (1, 10, 11))
    assert sb.stats()["requests"] == 3

    code = main(["plan", str(manifest), "--ledger", str(ledger), "--format", "json"])
    plan = json.loads(capsys.readouterr().out)["entries"]
    assert code == 0
    actions = {e["name"]: e["action"] for e in plan}
    assert [n for n, a in actions.items() if a == "skip"] == ["task-1", "task-10", "task-11"]
    skipped = next(e for e in plan if e["name"] == "task-1")
    assert skipped["session_id"] == created(read_ledger(ledger))["m.yaml#task-1"]
    assert all(e["request"]["session_secrets"][0]["value"] == "***" for e in plan)

    # Change task-1's prompt: plan says create, and flags it changed.
    manifest.write_text(manifest.read_text().replace("Do task", "Now do task"))
    main(["plan", str(manifest), "--ledger", str(ledger), "--format", "json"])
    plan = json.loads(capsys.readouterr().out)["entries"]
    changed = {e["name"] for e in plan if e["changed"]}
    assert changed == {"task-1", "task-10", "task-11"}
    assert {e["action"] for e in plan} == {"create"}

    code, _, err = run_main(
        capsys, ledger, str(manifest), "--base-url", sb.base_url, "--select", "nothing-*"
    )
    assert code == 2 and "no entry name matches" in err


@pytest.mark.slow
def test_circuit_breaker_stops_starting_entries_and_leaves_them_pending(
    tmp_path: Path, make_sandbox: MakeSandbox, env: None
) -> None:
    """Through the runner with a short breaker span (the CLI's is 10 s), real sockets."""
    import anyio

    from launcher.api.address import Asked
    from launcher.api.connection import resolve
    from launcher.dispatch.run import RunContext
    from launcher.dispatch.run import dispatch_all as _dispatch_all
    from launcher.dispatch.settings import RunSettings
    from launcher.ledger import writer as ledger_mod
    from launcher.manifest import check
    from launcher.output.progress import RunProgress

    sb = make_sandbox(fail_rate=1.0, latency_ms=20)
    write_manifest(tmp_path / "m.yaml", 300, idempotent=True)
    entries = check([str(tmp_path)]).entries
    settings = RunSettings(base_url=sb.base_url, concurrency=4, breaker_span=0.5, max_attempts=50)
    conn, _ = resolve(Asked(base_url=sb.base_url), {"DEVIN_API_KEY": API_KEY}, [SECRET])
    redact = conn.redact
    ledger = tmp_path / "l.jsonl"
    with ledger_mod.LedgerWriter.open(ledger, "breaker-run") as writer:
        progress = RunProgress(total=300, fmt="text", mode="never", redact=redact)
        ctx = RunContext(settings, conn, writer, {"TEST_SECRET": SECRET}, progress)
        result = anyio.run(_dispatch_all, ctx, entries)
    assert isinstance(result.ending, BreakerOpen)
    assert "circuit breaker open" in reason(result.ending)
    assert int(result.exit_code) == 1
    assert result.count("pending") > 0  # never attempted: left for the next run
    assert result.count("created") == 0
    attempted = {e["entry"] for e in read_ledger(ledger)}
    assert len(attempted) < 300
    assert sb.stats()["requests"] < 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_embedded_sandbox_needs_no_api_key_and_json_is_one_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEVIN_API_KEY", raising=False)
    monkeypatch.setenv("EXAMPLE_TOKEN", SECRET)
    ledger = tmp_path / "demo.jsonl"
    examples = str(EXAMPLES)
    code = main(["run", examples, "--sandbox", "--ledger", str(ledger), "--format", "json"])
    out, err = capsys.readouterr()
    doc = json.loads(out)  # stdout is exactly one JSON document
    assert code == 0, err
    assert doc["created"] == len(doc["entries"]) > 0 and doc["failed"] == doc["in_doubt"] == 0
    assert_no_secrets(out, err, ledger.read_text())

    code = main(["run", examples, "--sandbox", "--ledger", str(ledger), "--format", "json"])
    again = json.loads(capsys.readouterr().out)
    assert code == 0 and again["skipped"] == doc["created"] and again["created"] == 0


@pytest.mark.parametrize("url", ["api.devin.ai", "ftp://x", "http://", "https//api"])
def test_a_malformed_base_url_is_a_usage_error(
    tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    write_manifest(tmp_path / "m.yaml", 1)
    code = main(["run", str(tmp_path), "--ledger", str(tmp_path / "l.jsonl"), "--base-url", url])
    err = capsys.readouterr().err
    assert code == 2
    assert "is not an http(s) URL" in err and "Traceback" not in err
    assert not (tmp_path / "l.jsonl").exists()


def test_a_full_disk_mid_run_is_a_clear_error_and_the_ledger_stays_readable(
    tmp_path: Path,
    tiny_disk: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 200)
    ledger = tiny_disk / "l.jsonl"
    code = main(
        ["run", str(tmp_path / "m.yaml"), "--ledger", str(ledger), "--base-url", sb.base_url]
    )
    out, err = capsys.readouterr()
    assert code == 1  # not 2: sessions were created before the disk filled
    assert "the disk is full" in err and "Traceback" not in err
    assert_no_secrets(out, err)
    # What was written is intact: at most the last line is torn, which reading ignores
    # (with a warning) and the next run cuts off under its lock.
    state = read_state(ledger)
    records = state.records()
    created_now = [r for r in records if r.outcome == "created"]
    assert 0 < len(created_now) < 200
    # No session without its intent on disk: every one the server made is announced by a
    # durable `sending` line (recorded created, or in flight for the next run to look up).
    assert sb.stats()["sessions"] <= len(records)


def test_a_one_character_secret_does_not_corrupt_json_output(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_SECRET", "3")  # short values occur everywhere: numbers, ids
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 3)
    ledger = tmp_path / "l3.jsonl"
    code = main(
        ["run", str(tmp_path), "--ledger", str(ledger), "--base-url", sb.base_url, "--format",
         "json"]
    )  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["created"] == 3 and doc["ledger"] == str(ledger)
