"""`launcher plan`: create or skip per entry from a hand-written ledger, and its output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from launcher.cli import main
from launcher.entry import Entry
from launcher.ledger.read import read_state
from launcher.manifest import check
from launcher.plan import make_plan
from tests.support.paths import EXAMPLES


def _event(entry: Entry, event: str, content: str | None = None, **fields: Any) -> str:
    line = {
        "v": 1,
        "ts": "2026-01-01T00:00:00Z",
        "event": event,
        "entry": entry.entry_id,
        "name": entry.name,
        "key": entry.key,
        "run_id": "r1",
        "content": entry.content if content is None else content,
        **fields,
    }
    return json.dumps(line) + "\n"


@pytest.fixture
def entries() -> list[Entry]:
    result = check([str(EXAMPLES)])
    assert result.diagnostics == []
    return result.entries


def test_plan_against_a_ledger(tmp_path: Path, entries: list[Entry]) -> None:
    done, failed, edited, sending = entries[0], entries[1], entries[2], entries[3]
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text(
        _event(done, "sending", attempt=1)
        + _event(
            done, "created", session_id="devin-1", url="https://x/devin-1", is_new_session=True
        )
        + _event(failed, "failed", error="boom", status=400)
        # the same name dispatched earlier with other content, under another key
        + _event(edited, "created", content="0" * 32, session_id="devin-old", url="u").replace(
            edited.key, "f" * 32
        )
        + _event(sending, "sending", attempt=1)
    )
    items = make_plan(entries, read_state(ledger))
    by_name = {i.entry.name: i for i in items}
    assert [i.entry for i in items] == entries
    assert by_name[done.name].action == "skip"
    assert (by_name[done.name].session_id, by_name[done.name].url) == (
        "devin-1",
        "https://x/devin-1",
    )
    assert not by_name[done.name].changed
    assert by_name[failed.name].action == "create"
    assert by_name[edited.name].action == "create" and by_name[edited.name].changed
    assert by_name[sending.name].action == "create"
    assert sum(i.action == "skip" for i in items) == 1


def test_plan_json(
    tmp_path: Path,
    entries: list[Entry],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXAMPLE_TOKEN", "not-a-secret")  # plan needs what run needs
    ledger = tmp_path / "ledger.jsonl"
    done = entries[0]
    ledger.write_text(_event(done, "created", session_id="devin-9", url="https://x/9"))
    assert main(["plan", str(EXAMPLES), "--ledger", str(ledger), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = doc["entries"]
    assert len(rows) == len(entries)
    assert set(rows[0]) == {
        "entry",
        "name",
        "file",
        "key",
        "action",
        "changed",
        "session_id",
        "url",
        "request",
        "attachments",
    }
    assert (rows[0]["action"], rows[0]["session_id"]) == ("skip", "devin-9")
    secret_rows = [r for r in rows if "session_secrets" in r["request"]]
    assert secret_rows
    for row in secret_rows:
        assert all(s["value"] == "***" for s in row["request"]["session_secrets"])
    for row, entry in zip(rows, entries, strict=True):
        assert row["request"] == entry.masked_body()
        assert row["request"]["tags"][-1] == f"launcher-key:{entry.key}"
        assert "name" not in row["request"] and "matrix" not in row["request"]
    docs_site = next(r for r in rows if r["name"] == "node22-docs-site")
    assert docs_site["request"]["knowledge_ids"] == []


def test_plan_text(
    tmp_path: Path,
    entries: list[Entry],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXAMPLE_TOKEN", "not-a-secret")  # plan needs what run needs
    ledger = tmp_path / "ledger.jsonl"
    done = entries[0]
    ledger.write_text(_event(done, "created", session_id="devin-9", url="https://x/9"))
    assert main(["plan", str(EXAMPLES), "--ledger", str(ledger), "--show-requests"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"skip    {done.entry_id}  ")
    assert out[0].endswith("(session devin-9)")
    assert out[-1] == f"{len(entries) - 1} to create, 1 to skip"
    assert '    "value": "***"' in "\n".join(out).replace('      "value"', '    "value"')
    assert "demo-not-a-secret" not in "\n".join(out)


def test_plan_refuses_invalid_manifests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nsessions: []\n")
    assert main(["plan", str(bad), "--ledger", str(tmp_path / "l.jsonl")]) == 2
    assert "sessions: must not be empty" in capsys.readouterr().out


def test_nothing_to_send_names_the_batch_only_when_every_entry_has_a_session() -> None:
    from launcher.ledger.state import LedgerState
    from launcher.plan import nothing_to_send

    entries = [
        Entry(name=n, file="m.yaml", path="m.yaml", line=1, request={"prompt": n}) for n in "ab"
    ]
    state = LedgerState()
    assert nothing_to_send(entries, state, "l.jsonl") is None
    for i, e in enumerate(entries):
        state.apply(
            {"v": 1, "ts": "2026-12-03T02:00:00.000Z", "event": "created", "entry": e.entry_id,
             "name": e.name, "key": e.key, "run_id": "r", "content": e.content,
             "session_id": f"s{i}", "batch": "launcher-batch:20261203T020000Z-3f9a1c"}
        )  # fmt: skip
    assert nothing_to_send(entries, state, "l.jsonl") == (
        "nothing to send: all 2 entries of batch 20261203T020000Z-3f9a1c have sessions "
        "(ledger l.jsonl)"
    )
    other = Entry(name="c", file="m.yaml", path="m.yaml", line=1, request={"prompt": "c"})
    assert nothing_to_send([entries[0], other], state, "l") is None
