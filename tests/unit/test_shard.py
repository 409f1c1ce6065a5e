"""`--shard K/N`: a stable partition of a batch by dispatch key, and shards run apart then
merged behave as one run (docs/guides/sharding.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from launcher.cli import main
from launcher.entry import Entry
from launcher.ledger.read import read_state
from launcher.manifest import check
from launcher.shard import Shard, jump_hash, select_shard, shard_flag
from tests.support.runkit import (
    API_KEY,
    SECRET,
    MakeSandbox,
    assert_no_secrets,
    created,
    read_ledger,
    write_manifest,
)


def forty(folder: Path) -> Path:
    write_manifest(folder / "a.yaml", 25, prefix="alpha")
    write_manifest(folder / "sub" / "b.yaml", 15, prefix="beta")
    return folder


def entries_of(folder: Path) -> list[Entry]:
    result = check([str(folder)])
    assert result.diagnostics == []
    return result.entries


def plan_keys(capsys: pytest.CaptureFixture[str], folder: Path, shard: str) -> set[str]:
    """What `launcher plan --shard` shows: the dispatch keys of the shard's entries."""
    with pytest.MonkeyPatch.context() as env:  # plan needs the secrets' variables, as run
        env.setenv("TEST_SECRET", SECRET)
        argv = ["plan", str(folder), "--shard", shard, "--format", "json", "--ledger", "none"]
        code = main(argv)
    out, _ = capsys.readouterr()
    assert code == 0
    return {e["key"] for e in json.loads(out)["entries"]}


def test_three_shards_of_forty_entries_partition_them_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = forty(tmp_path / "m")
    every = {e.key for e in entries_of(folder)}
    assert len(every) == 40
    shards = [plan_keys(capsys, folder, f"{k}/3") for k in (1, 2, 3)]
    assert all(shards), "no shard is empty"
    assert sum(map(len, shards)) == 40, "disjoint"
    assert set().union(*shards) == every, "covering"


def test_adding_an_entry_moves_no_other(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = forty(tmp_path / "m")
    before = [plan_keys(capsys, folder, f"{k}/3") for k in (1, 2, 3)]
    write_manifest(folder / "c.yaml", 1, prefix="gamma")
    after = [plan_keys(capsys, folder, f"{k}/3") for k in (1, 2, 3)]
    for old, new in zip(before, after, strict=True):
        assert old <= new
    assert sum(map(len, after)) == 41


def test_shard_does_not_depend_on_cwd_or_path_spelling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = forty(tmp_path / "m")
    here = plan_keys(capsys, folder, "2/3")
    (tmp_path / "x" / "y").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "x" / "y")
    assert plan_keys(capsys, Path("../../m/"), "2/3") == here


def test_the_hash_is_pinned() -> None:
    """Float arithmetic in IEEE double is the same on every machine and Python: these
    values must never change, or a resumed shard would pick up another's entries."""
    cases = [(0, 1), (1, 7), (2**64 - 1, 10), (0xDEADBEEFCAFEBABE, 3), (123456789, 1000)]
    assert [jump_hash(k, n) for k, n in cases] == [0, 6, 9, 1, 294]
    assert Shard(2, 3).owns("deadbeefcafebabe" + "0" * 16)


@given(st.integers(0, 2**64 - 1), st.integers(1, 200))
def test_one_more_shard_moves_entries_only_to_the_new_one(key: int, n: int) -> None:
    before, after = jump_hash(key, n), jump_hash(key, n + 1)
    assert 0 <= before < n
    assert after in (before, n)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("0/3", "K must be between 1 and 3"),
        ("4/3", "K must be between 1 and 3"),
        ("x", "is not K/N"),
        ("1/0", "N must be at least 1"),
        ("-1/3", "is not K/N"),
        ("1/3/5", "is not K/N"),
    ],
)
def test_bad_shard_values_are_usage_errors(
    value: str, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = forty(tmp_path / "m")
    for command in ("plan", "run"):
        assert main([command, str(folder), f"--shard={value}"]) == 2
        err = capsys.readouterr().err
        assert "argument --shard" in err and why in err and "Traceback" not in err
    with pytest.raises(Exception, match=why):
        shard_flag(value)


def test_select_shard_without_a_shard_keeps_everything(tmp_path: Path) -> None:
    entries = entries_of(forty(tmp_path / "m"))
    assert select_shard(entries, None) == entries
    assert select_shard(entries, Shard(1, 1)) == entries


@pytest.mark.slow
def test_three_shard_runs_merged_leave_no_duplicate_and_a_rerun_sends_nothing(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEVIN_API_KEY", API_KEY)
    monkeypatch.setenv("TEST_SECRET", SECRET)
    sb = make_sandbox()
    folder = forty(tmp_path / "m")
    ledgers = [tmp_path / "ledgers" / f"shard-{k}.jsonl" for k in (1, 2, 3)]
    for k, ledger in enumerate(ledgers, 1):
        argv = ["run", str(folder), "--shard", f"{k}/3", "--ledger", str(ledger)]
        code = main([*argv, "--base-url", sb.base_url, "--format", "json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert json.loads(out)["created"] == len(created(read_ledger(ledger))) > 0
        assert_no_secrets(out, err, ledger.read_text())
    assert sb.stats()["requests"] == sb.stats()["sessions"] == 40
    merged = tmp_path / "merged.jsonl"
    assert main(["ledger", "merge", *map(str, ledgers), "--output", str(merged)]) == 0
    capsys.readouterr()
    events = read_ledger(merged)
    sessions = [e["session_id"] for e in events if e["event"] == "created"]
    assert len(sessions) == len(set(sessions)) == 40
    assert {e["run_id"] for e in events} == {read_ledger(p)[0]["run_id"] for p in ledgers}
    assert len(read_state(merged).records()) == 40
    code = main(["run", str(folder), "--ledger", str(merged), "--base-url", sb.base_url])
    assert code == 0 and "nothing to send: all 40 entries" in capsys.readouterr().err
    assert sb.stats()["requests"] == 40
    # results and watch take the same shards of the merged ledger: a partition again.
    shard_rows: list[set[str]] = []
    for k in (1, 2, 3):
        code = main(["results", str(folder), "--ledger", str(merged), "--shard", f"{k}/3"])
        out, _ = capsys.readouterr()
        assert code == 0
        shard_rows.append({json.loads(line)["key"] for line in out.splitlines()})
        assert shard_rows[-1] == plan_keys(capsys, folder, f"{k}/3")
    assert sum(map(len, shard_rows)) == len(set().union(*shard_rows)) == 40
    # results reads the shards' own ledgers as one, as it reads the merged ledger.
    several = [arg for ledger in ledgers for arg in ("--ledger", str(ledger))]
    assert main(["results", str(folder), *several]) == 0
    out, _ = capsys.readouterr()
    assert {json.loads(line)["key"] for line in out.splitlines()} == set().union(*shard_rows)
    assert main(["results", str(folder), "--ledger", str(merged)]) == 0
    assert capsys.readouterr().out == out
    watch = ["watch", str(folder), "--ledger", str(merged), "--shard", "2/3"]
    code = main([*watch, "--base-url", sb.base_url, "--poll-interval", "0.2", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    assert {e["key"] for e in doc["entries"]} == shard_rows[1]


def test_an_empty_shard_runs_and_sends_nothing(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """More shards than entries: the surplus shards are empty, which is not an error."""
    monkeypatch.setenv("DEVIN_API_KEY", API_KEY)
    sb = make_sandbox()
    write_manifest(tmp_path / "m" / "one.yaml", 1, secret=False)
    codes, made = [], []
    for k in (1, 2, 3, 4):
        ledger = tmp_path / f"l{k}.jsonl"
        argv = ["run", str(tmp_path / "m"), "--shard", f"{k}/4", "--ledger", str(ledger)]
        codes.append(main([*argv, "--base-url", sb.base_url, "--format", "json"]))
        made.append(json.loads(capsys.readouterr().out)["created"])
    assert codes == [0, 0, 0, 0]
    assert sorted(made) == [0, 0, 0, 1]
    assert sb.stats()["requests"] == 1
