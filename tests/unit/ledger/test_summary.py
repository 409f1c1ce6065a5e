"""`ledger.summarize` and `launcher ledger summary F` through `launcher.cli.main`."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.cli import main
from launcher.entry import Entry
from launcher.errors import LedgerError
from launcher.follow.results import choose
from launcher.follow.targets import build_targets
from launcher.ledger.read import read_state
from launcher.ledger.summary import summarize
from launcher.ledger.writer import LedgerWriter
from launcher.output.results import write_jsonl
from tests.support.followkit import entry


def event(ev: str, name: str, key: str | None = None, **fields: Any) -> str:
    doc = {"v": 1, "ts": "2026-11-29T08:30:00.000Z", "event": ev, "entry": f"m.yaml#{name}"}
    doc |= {"name": name, "key": key or f"key-{name}", "run_id": "r1", "content": "c", **fields}
    return json.dumps(doc) + "\n"


def created(name: str, key: str | None = None, new: bool = True) -> str:
    return event(
        "created", name, key, session_id=f"devin-{name}", url=f"u/{name}", is_new_session=new
    )


MIXED = (
    event("sending", "new", attempt=1)
    + created("new")
    + created("adopted", new=False)
    + event("failed", "bad", error="prompt: field required\nmore", status=422)
    + event("in_doubt", "unsure", error="read timeout")
    + event("sending", "cut", attempt=1)
    # `moved` failed under its first key, then was created under a new one (content edit)
    + event("failed", "moved", "old-key", error="boom", status=500)
    + created("moved", "new-key")
    # `regressed` was created under yesterday's run key and failed under today's
    + created("regressed", "day1")
    + event("failed", "regressed", "day2", error="quota", status=429)
)


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.jsonl"
    path.write_text(MIXED)
    return path


def test_summarize_counts_latest_outcome_per_entry(mixed: Path) -> None:
    s = summarize(mixed)
    assert s.counts == {"created": 2, "adopted": 1, "failed": 2, "in_doubt": 1, "pending": 1}
    assert [(e.entry, e.outcome) for e in s.entries] == [
        ("m.yaml#new", "created"),
        ("m.yaml#adopted", "adopted"),
        ("m.yaml#bad", "failed"),
        ("m.yaml#unsure", "in_doubt"),
        ("m.yaml#cut", "pending"),
        ("m.yaml#moved", "created"),
        ("m.yaml#regressed", "failed"),
    ]
    assert [(e.entry, e.status) for e in s.failures] == [
        ("m.yaml#bad", 422),
        ("m.yaml#unsure", None),
        ("m.yaml#regressed", 429),
    ]
    assert s.has_problems and s.path == str(mixed)


def test_summarize_clean_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text(created("a") + created("b", new=False))
    assert not summarize(path).has_problems
    with pytest.raises(LedgerError, match=r"no ledger at .*nope\.jsonl"):
        summarize(tmp_path / "nope.jsonl")


def test_cli_text(mixed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with mixed.open("a") as f:
        f.write(event("paused", "new"))
    assert main(["ledger", "summary", str(mixed)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "created 2  adopted 1  failed 2  in doubt 1  pending 1",
        "ACUs: not reported (the API v1 does not report them)",
        "  failed   m.yaml#bad  (status 422) prompt: field required more",
        "  in doubt m.yaml#unsure  read timeout",
        "  failed   m.yaml#regressed  (status 429) quota",
        f"ledger: {mixed}",
    ]
    assert err == (
        "launcher: warning: ignored 1 event of unknown type 'paused' (from a newer launcher?)\n"
    )


def test_cli_json(mixed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ledger", "summary", str(mixed), "--format", "json"]) == 1
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert err == ""
    assert list(doc) == [
        "format_version",
        "command",
        "ok",
        "exit_code",
        "ledger",
        "counts",
        "statuses",
        "acus",
        "entries",
        "failures",
        "warnings",
    ]
    assert doc["ledger"] == str(mixed) and doc["warnings"] == []
    assert doc["counts"]["in_doubt"] == 1
    first = doc["entries"][0]
    assert first["entry"] == "m.yaml#new" and first["outcome"] == "created"
    assert first["session_id"] == "devin-new" and first["url"] == "u/new"
    assert first["attempts"] == 1 and first["is_new_session"] is True
    assert [f["entry"] for f in doc["failures"]] == [
        "m.yaml#bad",
        "m.yaml#unsure",
        "m.yaml#regressed",
    ]


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = tmp_path / "clean.jsonl"
    clean.write_text(created("a"))
    assert main(["ledger", "summary", str(clean)]) == 0
    assert capsys.readouterr().out.startswith(
        "created 1  adopted 0  failed 0  in doubt 0  pending 0\n"
    )

    assert main(["ledger", "summary", str(tmp_path / "nope.jsonl")]) == 2
    assert "launcher: error: no ledger at" in capsys.readouterr().err

    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text(created("a") + "{oops\n" + created("b"))
    assert main(["ledger", "summary", str(damaged), "--format", "json"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("launcher: error: ledger ") and "damaged at line 2" in err
    assert json.loads(out)["error"]["kind"] == "ledger"  # --format json: one object, always
    assert "Traceback" not in err

    assert main(["ledger", "summary", str(tmp_path)]) == 2
    assert "that path is a folder" in capsys.readouterr().err


def test_acus_per_session_and_per_batch_where_v3_reports_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    v3 = {
        "v": 1,
        "base_url": "https://api.devin.ai",
        "generation": "v3",
        "org": "o",
        "sandbox": False,
    }

    def session(name: str, batch: str, acus: float | None) -> str:
        made = event("created", name, session_id=f"devin-{name}", api=v3, batch=batch)
        if acus is None:  # never watched: no ACUs recorded
            return made
        seen = {"session_id": f"devin-{name}", "status_enum": "finished", "acus_consumed": acus}
        return made + event("status", name, api=v3, **seen)

    path = tmp_path / "v3.jsonl"
    path.write_text(
        session("a", "launcher-batch:r1", 1.5)
        + session("b", "launcher-batch:r1", 2)
        + session("c", "launcher-batch:r2", 0.25)
        + session("d", "launcher-batch:r2", None)
    )
    assert main(["ledger", "summary", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2:5] == [
        "ACUs: 3.75 consumed by 3 sessions",
        "  batch r1: 3.5 consumed by 2 sessions",
        "  batch r2: 0.25 consumed by 1 session",
    ]
    assert main(["ledger", "summary", str(path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["acus_consumed"] for e in doc["entries"]] == [1.5, 2, 0.25, None]
    assert main(["ledger", "batches", str(path)]) == 0
    batches = capsys.readouterr().out.splitlines()
    assert batches[0].endswith("  3.5 ACUs") and batches[1].endswith("  0.25 ACUs"), batches
    assert doc["acus"] == {
        "reported": True,
        "total": 3.75,
        "sessions": 3,
        "batches": {"r1": {"total": 3.5, "sessions": 2}, "r2": {"total": 0.25, "sessions": 1}},
    }


async def _write(path: Path, events: list[tuple[str, Entry, dict[str, Any]]]) -> None:
    with LedgerWriter.open(path, "run1") as writer:
        for event, e, fields in events:
            await writer.append(event, e, **fields)


def test_latest_status_per_entry_folds(tmp_path: Path) -> None:
    a, b = entry("a"), entry("b", None)
    ledger = tmp_path / "l.jsonl"
    anyio.run(
        _write,
        ledger,
        [
            ("sending", a, {"batch": "launcher-batch:run1"}),
            ("created", a, {"session_id": "sa", "url": "u"}),
            ("sending", b, {}),
            ("created", b, {"session_id": "sb"}),
            ("status", a, {"session_id": "sa", "status_enum": "working"}),
            ("status", b, {"session_id": "sb", "status_enum": "blocked"}),
            (
                "status",
                a,
                {
                    "session_id": "sa",
                    "status_enum": "finished",
                    "structured_output": {"ok": True},
                    "pull_request_url": "https://e/pr/1",
                    "output_valid": True,
                    "output_errors": [],
                },
            ),
            ("message", b, {"session_id": "sb", "digest": "d1", "state": "sending"}),
            ("message", b, {"session_id": "sb", "digest": "d1", "state": "sent"}),
        ],
    )
    state = read_state(ledger)
    assert state.created(a.key) is not None  # follow events never undo `created`
    ta, tb = build_targets([a, b], state)
    assert ta.batch == "launcher-batch:run1" and ta.status == "finished" and not ta.active
    assert ta.verdict(False).ended_well and ta.pull_request_url == "https://e/pr/1"
    assert tb.status == "blocked" and tb.woken and tb.active  # messaged after it blocked
    summary = summarize(ledger)
    assert summary.statuses == {"blocked": 1, "finished": 1}
    out = io.StringIO()
    write_jsonl(choose([ta, tb], None, None), out)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["entry"] for r in records] == ["m.yaml#a", "m.yaml#b"]
    assert records[0]["structured_output"] == {"ok": True} and records[0]["output_valid"]
