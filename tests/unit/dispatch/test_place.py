"""The check that a ledger's sessions live in the API a command talks to, and the `api`
field every line of the ledger carries from then on."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from launcher.api.target import ApiTarget
from launcher.dispatch.place import SANDBOX_LEDGER, check_place, claim, run_ledger
from launcher.entry import Entry
from launcher.errors import ExitCode, LedgerError
from launcher.ledger.compact import compact
from launcher.ledger.read import read_state
from launcher.ledger.writer import LedgerWriter

REAL = ApiTarget("https://api.devin.ai")
OTHER = ApiTarget("http://127.0.0.1:8787")
SANDBOX = ApiTarget("http://127.0.0.1:40000", sandbox=True)


def entry(name: str) -> Entry:
    return Entry(name=name, file="m.yaml", path="m.yaml", line=1, request={"prompt": name})


def write(path: Path, target: ApiTarget | None, names: list[str]) -> None:
    async def main() -> None:
        with LedgerWriter.open(path, "run-1") as writer:
            if target is not None:
                claim(writer, target, "run")
            for i, name in enumerate(names):
                await writer.append("sending", entry(name), attempt=1)
                await writer.append("created", entry(name), session_id=f"devin-{i}")

    anyio.run(main)


def test_every_line_names_the_api_and_the_fold_lists_it(tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    write(ledger, REAL, ["a", "b"])
    lines = [json.loads(x) for x in ledger.read_text().splitlines()]
    assert [x["api"] for x in lines] == [REAL.as_record()] * 4
    state = read_state(ledger)
    assert state.apis == [REAL.as_record()] and not state.unmarked
    assert all(r.api == REAL.as_record() for r in state.records())
    assert check_place(state, ApiTarget("https://API.devin.ai:443/"), ledger, "run") is None


@pytest.mark.parametrize(
    ("held", "asked", "says"),
    [
        (
            SANDBOX,
            REAL,
            "holds sessions of the embedded sandbox, but this run talks to "
            "https://api.devin.ai (v1); those were a rehearsal's",
        ),
        (
            REAL,
            SANDBOX,
            "holds sessions of https://api.devin.ai (v1), but this run talks to "
            f"the embedded sandbox; a --sandbox run keeps its own ledger ({SANDBOX_LEDGER}): "
            "leave out --ledger",
        ),
        (
            REAL,
            OTHER,
            "holds sessions of https://api.devin.ai (v1), but this run talks to "
            "http://127.0.0.1:8787 (v1); pass --ledger with that API's own ledger",
        ),
    ],
)
def test_a_ledger_of_another_api_is_refused_naming_both(
    tmp_path: Path, held: ApiTarget, asked: ApiTarget, says: str
) -> None:
    ledger = tmp_path / "l.jsonl"
    write(ledger, held, ["a"])
    with pytest.raises(LedgerError) as caught:
        check_place(read_state(ledger), asked, ledger, "run")
    assert caught.value.exit_code == ExitCode.USAGE
    assert str(caught.value).startswith(f"ledger {ledger} {says}")
    assert "\n" not in str(caught.value)


def test_a_ledger_without_api_is_taken_for_the_first_api_it_is_used_with(tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    write(ledger, None, ["a"])  # as an earlier launcher wrote it
    state = read_state(ledger)
    assert state.unmarked and state.apis == []
    note = check_place(state, OTHER, ledger, "run")
    assert note is not None and "earlier launcher" in note and OTHER.label in note

    async def more() -> None:
        with LedgerWriter.open(ledger, "run-2") as writer:
            assert claim(writer, OTHER, "run") == note
            await writer.append("sending", entry("b"), attempt=1)

    anyio.run(more)
    state = read_state(ledger)
    assert check_place(state, OTHER, ledger, "run") is None  # said once
    with pytest.raises(LedgerError, match="holds sessions of http://127\\.0\\.0\\.1:8787"):
        check_place(state, REAL, ledger, "watch")


def test_compact_keeps_where_each_session_lives(tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    write(ledger, REAL, ["a", "b"])
    compact(ledger)
    state = read_state(ledger)
    assert state.apis == [REAL.as_record()]
    assert all(r.api == REAL.as_record() for r in state.records())


def test_the_sandbox_has_its_own_default_ledger() -> None:
    assert run_ledger("state/l.jsonl", True, given=False) == SANDBOX_LEDGER
    assert run_ledger("state/l.jsonl", True, given=True) == "state/l.jsonl"
    assert run_ledger("state/l.jsonl", False, given=False) == "state/l.jsonl"
