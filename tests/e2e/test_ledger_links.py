"""A ledger reached through a symbolic link or a hard link stays one ledger through
`ledger compact`: runs through either name afterwards create no session twice. Compact
keeps the file's owner, group and exact mode; new and merged ledgers are the owner's."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from launcher.ledger.compact import compact
from launcher.sandbox.handle import SandboxHandle
from tests.support.runkit import created, launcher_env, read_ledger, run_launcher, write_manifest

pytestmark = pytest.mark.slow


def _run(manifest: Path, ledger: Path, env: dict[str, str]) -> None:
    result = run_launcher("run", str(manifest), "--ledger", str(ledger), env=env)
    assert result.returncode == 0, result.stderr


def _sessions(sandbox: SandboxHandle) -> list[str]:
    return [s["session_id"] for s in sandbox.list_sessions()]


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_compact_through_a_link_then_runs_through_both_names_create_no_duplicate(
    tmp_path: Path, sandbox: SandboxHandle, link: str
) -> None:
    env = launcher_env(sandbox.base_url)
    real, other = tmp_path / "real.jsonl", tmp_path / "other.jsonl"
    _run(write_manifest(tmp_path / "m.yaml", 3), real, env)
    (os.symlink if link == "symlink" else os.link)(real, other)
    before = real.read_bytes()

    done = run_launcher("ledger", "compact", str(other), env=env)
    if link == "symlink":
        assert done.returncode == 0, done.stderr
        assert other.is_symlink() and other.resolve() == real.resolve()
        assert not list(tmp_path.glob(".*.tmp"))
    else:  # a rename would give only one name the new file: refused, nothing changed
        assert done.returncode == 2
        assert "hard links" in done.stderr and "Traceback" not in done.stderr
        assert real.read_bytes() == before and os.stat(real).st_nlink == 2

    bigger = write_manifest(tmp_path / "m.yaml", 5)
    _run(bigger, other, env)
    _run(bigger, real, env)
    sessions = _sessions(sandbox)
    assert len(sessions) == len(set(sessions)) == 5  # 0 duplicates
    assert read_ledger(real) == read_ledger(other)
    assert len(created(read_ledger(real))) == 5


def test_compact_keeps_the_exact_mode_and_owner(tmp_path: Path) -> None:
    real = tmp_path / "l.jsonl"
    real.write_bytes(
        b'{"v":1,"ts":"2026-01-01T00:00:00.000Z","event":"created","entry":"m.yaml#a",'
        b'"name":"a","key":"k1","run_id":"r","content":"c","session_id":"devin-1"}\n' * 2
    )
    os.chmod(real, 0o640)
    old = os.umask(0o077)  # a strict umask must not narrow the ledger's own mode
    try:
        if os.geteuid() == 0:
            os.chown(real, 10001, 10001)  # the service user of the deploy examples
        compact(real)
    finally:
        os.umask(old)
    st = os.stat(real)
    assert stat.S_IMODE(st.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (10001, 10001)
    assert real.read_bytes().count(b"\n") == 1


def test_new_and_merged_ledgers_are_the_owners_alone(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    env = launcher_env(sandbox.base_url)
    old = os.umask(0o022)
    try:
        a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
        _run(write_manifest(tmp_path / "a.yaml", 1, prefix="a"), a, env)
        _run(write_manifest(tmp_path / "b.yaml", 1, prefix="b"), b, env)
        assert stat.S_IMODE(os.stat(a).st_mode) == 0o600
        os.chmod(a, 0o600)
        os.chmod(b, 0o640)
        out = tmp_path / "merged.jsonl"
        merged = run_launcher("ledger", "merge", str(a), str(b), "--output", str(out), env=env)
        assert merged.returncode == 0, merged.stderr
        assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    finally:
        os.umask(old)
