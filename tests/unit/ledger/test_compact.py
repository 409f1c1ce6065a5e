"""`launcher ledger compact`: one line per dispatch key, the same summary, and a re-run
afterwards sends only what was never created; the fold survives any event history."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from launcher.cli import main
from launcher.ledger.compact import compact
from launcher.ledger.read import read_state
from launcher.ledger.state import KeyRecord, LedgerState
from tests.support.budget import examples
from tests.support.runkit import API_KEY, MakeSandbox, read_ledger, write_manifest


def fold(path: Path) -> tuple[list[KeyRecord], list[KeyRecord]]:
    """Every key's record and each entry's latest, attempt counts aside (compact keeps one
    `sending` line of however many there were)."""
    state: LedgerState = read_state(path)

    def strip(records: list[KeyRecord]) -> list[KeyRecord]:
        return sorted((replace(r, attempts=0) for r in records), key=lambda r: r.key)

    return strip(state.records()), strip(state.latest())


def summary(capsys: pytest.CaptureFixture[str], ledger: Path) -> tuple[int, str, Any]:
    code = main(["ledger", "summary", str(ledger)])
    text = capsys.readouterr().out
    main(["ledger", "summary", str(ledger), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    for e in doc["entries"] + doc["failures"]:
        e.pop("attempts")
    return code, text, doc


@pytest.mark.slow
def test_compact_after_retries_and_failures_keeps_state_and_resends_only_the_missing(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEVIN_API_KEY", API_KEY)
    flaky = make_sandbox(unavailable_rate=0.4, retry_after=0, seed=3)
    manifests = write_manifest(tmp_path / "m" / "batch.yaml", 10, secret=False).parent
    ledger = tmp_path / "ledger.jsonl"
    argv = ["run", str(manifests), "--ledger", str(ledger), "--max-attempts", "1"]
    for _ in range(2):  # the second run retries what the first one could not create
        main([*argv, "--base-url", flaky.base_url])
    capsys.readouterr()
    events = read_ledger(ledger)
    keys = {e["key"] for e in events}
    sends = [e["key"] for e in events if e["event"] == "sending"]
    assert len(keys) == 10 and len(events) > 20
    assert any(sends.count(k) > 1 for k in keys), "some entry was retried"
    assert any(e["event"] == "failed" and "retry_at" in e for e in events)
    never_created = keys - {e["key"] for e in events if e["event"] == "created"}
    assert never_created, "the seed leaves some entry failed"
    before = summary(capsys, ledger)
    fold_before = fold(ledger)

    assert main(["ledger", "compact", str(ledger)]) == 0
    assert f"compacted {ledger}: 10 keys" in capsys.readouterr().out
    lines = read_ledger(ledger)
    assert len(lines) == 10 and {e["key"] for e in lines} == keys
    after = summary(capsys, ledger)
    assert after == before
    assert fold(ledger) == fold_before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []

    # The same API again (a ledger's sessions live in one), with retries enough this time.
    sent_before, had = len(flaky.requests_log()), flaky.stats()["sessions"]
    main([*argv[:-2], "--base-url", flaky.base_url])
    capsys.readouterr()
    resent = flaky.requests_log()[sent_before:]
    tags = {t for r in resent for t in r["tags"] if t.startswith("launcher-key:")}
    assert flaky.stats()["sessions"] - had == len(never_created) == len(tags)
    assert {t.removeprefix("launcher-key:") for t in tags} == never_created
    assert read_state(ledger).latest() and all(
        r.outcome == "created" for r in read_state(ledger).latest()
    )


# A history is any sequence of events per key: what a crash, a retry, a failure or an
# anomaly after `created` could leave. Keys 0-1 share entry e0, so "latest" is exercised.
EVENT = st.sampled_from(["sending", "created", "failed", "in_doubt"])


def _event(i: int, key: int, kind: str, flag: bool) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "v": 1,
        "ts": f"2026-01-01T00:00:{i % 60:02d}.{i:03d}Z",
        "event": kind,
        "entry": f"m.yaml#e{min(key, 1) if key < 2 else key}",
        "name": f"e{key}",
        "key": f"{key:032x}",
        "run_id": f"run-{i // 5}",
        "content": "c",
    }
    if kind == "sending":
        ev.update(attempt=1, timeout=30 if flag else 12.5)
    elif kind == "created":
        ev.update(session_id=f"devin-{i}", url=None if flag else "u", is_new_session=flag)
        if flag:
            ev["reconciled"] = True
    elif kind == "failed":
        ev.update(error="boom", status=None if flag else 429)
        if not flag:
            ev["retry_at"] = "2026-01-02T00:00:00.000Z"
    else:
        ev["error"] = None if flag else "timed out"
    if key == 4:  # `launcher rerun`: each of its events names the rerun, some what it replaced
        ev["rerun"] = 1 + i // 10
        if flag:
            ev["rerun_of"] = f"devin-old-{i // 10}"
    return ev


@settings(max_examples=examples(60), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 4), EVENT, st.booleans()), min_size=1, max_size=30))
def test_the_fold_of_a_compacted_ledger_is_the_fold_of_the_original(
    tmp_path: Path, history: list[tuple[int, str, bool]]
) -> None:
    ledger = tmp_path / "h.jsonl"
    events = [_event(i, key, kind, flag) for i, (key, kind, flag) in enumerate(history)]
    ledger.write_text("".join(json.dumps(e) + "\n" for e in events))
    before = fold(ledger)
    done = compact(ledger)
    assert fold(ledger) == before
    assert len(read_ledger(ledger)) == done.keys == len({e["key"] for e in events})


def test_compact_of_a_held_ledger_exits_4_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from launcher.ledger.writer import LedgerWriter

    ledger = tmp_path / "l.jsonl"
    ledger.write_text(json.dumps(_event(0, 3, "sending", True)) + "\n")
    before = ledger.read_bytes()
    with LedgerWriter.open(ledger, "run-x"):
        assert main(["ledger", "compact", str(ledger)]) == 4
    assert "is held by run run-x" in capsys.readouterr().err
    assert ledger.read_bytes() == before


def test_compact_of_a_missing_or_damaged_ledger_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ledger", "compact", str(tmp_path / "none.jsonl")]) == 2
    assert "no ledger at" in capsys.readouterr().err
    assert not (tmp_path / "none.jsonl").exists()
    ledger = tmp_path / "bad.jsonl"
    good = json.dumps(_event(0, 3, "sending", True)) + "\n"
    ledger.write_text(good + "{oops\n" + good)
    assert main(["ledger", "compact", str(ledger)]) == 2
    assert "damaged at line 2" in capsys.readouterr().err
    assert ledger.read_text() == good + "{oops\n" + good


def test_a_leftover_of_a_killed_compact_is_replaced_not_read(tmp_path: Path) -> None:
    """A compact killed after writing its temporary file but before the rename leaves the
    old ledger and that file; the next compact, under the lock, starts it afresh."""
    ledger = tmp_path / "l.jsonl"
    events = [_event(i, i % 3, kind, True) for i, kind in enumerate(["sending", "failed"] * 3)]
    ledger.write_text("".join(json.dumps(e) + "\n" for e in events))
    before = fold(ledger)
    (tmp_path / ".l.jsonl.compact.tmp").write_text('{"half": "a line of a dead compa')
    compact(ledger)
    assert fold(ledger) == before and len(read_ledger(ledger)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.jsonl"]  # no lock file beside it


def test_compaction_keeps_each_upload_so_no_run_uploads_it_again(tmp_path: Path) -> None:
    api = {"v": 1, "base_url": "https://api.devin.ai", "generation": "v1", "org": None}
    api["sandbox"] = False
    head = {"v": 1, "ts": "2026-12-03T09:00:00.000Z", "run_id": "r1", "api": api}
    upload = {**head, "event": "attachment", "entry": "attachment:log.txt", "name": "log.txt"}
    upload |= {"key": "ab" * 16, "content": "ab" * 16, "sha256": "ab" * 32, "url": "https://f/1"}
    made = {**head, "event": "created", "entry": "m.yaml#a", "name": "a", "key": "k1"}
    made |= {"content": "c1", "session_id": "devin-1"}
    ledger = tmp_path / "l.jsonl"
    ledger.write_text(
        json.dumps(upload) + "\n" + json.dumps(made) + "\n" + json.dumps(upload) + "\n"
    )
    compact(ledger)
    state = read_state(ledger)
    assert state.uploaded("ab" * 32, api) == "https://f/1"
    assert [e["event"] for e in read_ledger(ledger)] == ["attachment", "created"]
    assert [r.entry for r in state.records()] == ["m.yaml#a"]  # an upload is no entry
