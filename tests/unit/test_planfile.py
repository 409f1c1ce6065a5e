"""The plan file: secrets as references, its shape checked on reading, and every way the
world can differ from the plan named before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher import planfile
from launcher.entry import Entry
from launcher.errors import UsageError
from launcher.ledger.state import LedgerState
from launcher.plan import make_plan


def entry(tmp_path: Path, secret: str = "${{ env.TOKEN }}") -> Entry:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\n")
    request = {"prompt": "p", "session_secrets": [{"key": "T", "value": secret}]}
    return Entry(name="e", file="m.yaml", path=str(manifest), line=2, request=request)


def made(tmp_path: Path, e: Entry, environ: dict[str, str]) -> planfile.PlanFile:
    selection = planfile.Selection((str(tmp_path),), "", (), None, "l.jsonl")
    doc = planfile.make(selection, make_plan([e], LedgerState()), LedgerState(), environ, "r1")
    path = tmp_path / "batch.plan"
    planfile.write(str(path), doc)
    return planfile.read(str(path))


def test_secrets_are_references_and_literals_are_masked(tmp_path: Path) -> None:
    plan = made(tmp_path, entry(tmp_path), {"TOKEN": "tok-value-123456"})
    [item] = plan.items
    assert item["body"]["session_secrets"] == [{"key": "T", "value": "${{ env.TOKEN }}"}]
    assert "launcher-batch:r1" in item["body"]["tags"]
    literal = made(tmp_path, entry(tmp_path, "literal-secret-999"), {})
    assert "literal-secret-999" not in Path(literal.path).read_text()
    assert literal.items[0]["body"]["session_secrets"][0]["value"] == "***"


def test_a_plan_that_still_holds_gives_its_entries(tmp_path: Path) -> None:
    e = entry(tmp_path)
    plan = made(tmp_path, e, {"TOKEN": "x"})
    assert planfile.check_before_run(plan, [e], LedgerState(), {"TOKEN": "x"}) == [e]


def test_every_difference_is_named(tmp_path: Path) -> None:
    e = entry(tmp_path)
    plan = made(tmp_path, e, {})  # TOKEN unset when planned
    Path(e.path).write_text("version: 1\n# edited\n")
    state = LedgerState()
    state.apply(
        {"v": 1, "ts": "2026-12-03T09:00:00.000Z", "event": "created", "entry": e.entry_id,
         "name": "e", "key": e.key, "run_id": "r0", "content": e.content, "session_id": "s"}
    )  # fmt: skip
    with pytest.raises(UsageError) as caught:
        planfile.check_before_run(plan, [e], state, {"TOKEN": "now-set"})
    text = str(caught.value)
    assert f"{e.path} changed since the plan was made" in text
    assert "TOKEN was not set when the plan was made and is set now" in text
    assert "the ledger's record of m.yaml#e changed since the plan" in text
    assert "now-set" not in text


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[]", 'no "format"'),
        ('{"format": "launcher-plan", "version": 9}', "version 9"),
        ("not json", "not JSON"),
        (
            '{"format": "launcher-plan", "version": 1, "run_id": "r", "items": [{"key": "k",'
            ' "action": "create"}], "selection": {"paths": []}, "manifests": [], "secrets": {}}',
            "a create without its body",
        ),
    ],
)
def test_what_is_not_a_plan_is_refused(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "x.plan"
    path.write_text(content)
    with pytest.raises(UsageError, match=problem):
        planfile.read(str(path))


def test_show_rebuilds_the_planned_entries(tmp_path: Path) -> None:
    e = entry(tmp_path)
    [item] = planfile.plan_items(made(tmp_path, e, {}))
    assert (item.action, item.entry.key, item.entry.entry_id) == ("create", e.key, e.entry_id)
