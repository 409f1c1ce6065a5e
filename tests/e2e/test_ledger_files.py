"""The ledger file under attack or bad luck, as the user meets it through `launcher`: other
names of the same file, files planted beside it, files that are not ledgers, damage."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from launcher.cli import main
from launcher.ledger.writer import HOLDER_XATTR
from tests.support.runkit import (
    MakeSandbox,
    assert_no_secrets,
    launcher_cmd,
    launcher_env,
    read_ledger,
    run_launcher,
    start_launcher,
    write_manifest,
)

ENTRIES = 20


@pytest.mark.parametrize("link", ["symlink", "hard link"])
@pytest.mark.slow
def test_two_runs_through_two_names_of_one_ledger_send_each_entry_once(
    tmp_path: Path, make_sandbox: MakeSandbox, link: str
) -> None:
    """Through `alias.jsonl -> state/nightly.jsonl` a second run took a
    lock of its own and sent everything again (38 sessions for 20 entries)."""
    sb = make_sandbox(latency_ms=150)  # slow: the first run is still sending at the second
    manifest = write_manifest(tmp_path / "m.yaml", ENTRIES)
    real = tmp_path / "state" / "nightly.jsonl"
    real.parent.mkdir()
    real.write_text("")  # a hard link needs the file; an empty file is a new ledger
    alias = tmp_path / "alias.jsonl"
    if link == "symlink":
        alias.symlink_to("state/nightly.jsonl")
    else:
        os.link(real, alias)
    env = launcher_env(sb.base_url)

    def args(ledger: Path) -> tuple[str, ...]:
        return ("run", str(manifest), "--ledger", str(ledger), "--concurrency", "1")

    first = start_launcher(*args(real), env=env)
    try:
        deadline = time.monotonic() + 30
        while sb.stats()["requests"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sb.stats()["requests"] > 0, "the first run never started sending"
        second = run_launcher(*args(alias), env=env, timeout=30)
        assert second.returncode == 4, second.stderr
        assert second.stdout == ""
        assert second.stderr.startswith(f"launcher: error: ledger {alias} is held by run ")
        assert f"(pid {first.pid} on " in second.stderr
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 0, err
    assert_no_secrets(out, err, second.stdout, second.stderr, real.read_text())
    stats = sb.stats()
    assert stats["sessions"] == ENTRIES and stats["duplicate_bodies"] == 0
    # The alias reads the same ledger: once the first run is over it has nothing to send.
    again = run_launcher(*args(alias), "--format", "json", env=env, timeout=60)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["skipped"] == ENTRIES
    assert sb.stats()["sessions"] == ENTRIES and sb.stats()["duplicate_bodies"] == 0


def test_a_planted_lock_symlink_does_not_truncate_its_target(
    tmp_path: Path, make_sandbox: MakeSandbox, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = make_sandbox()
    write_manifest(tmp_path / "m" / "m.yaml", 2)
    victim = tmp_path / "victim.conf"
    victim.write_text("do not lose me\n")
    ledger = tmp_path / "l.jsonl"
    (tmp_path / "l.jsonl.lock").symlink_to(victim)
    code = main(["run", str(tmp_path / "m"), "--ledger", str(ledger), "--base-url", sb.base_url])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert victim.read_text() == "do not lose me\n"
    assert len(read_ledger(ledger)) == 4  # sending + created for each entry
    assert_no_secrets(out, err, ledger.read_text())


UNRELATED = {
    "one line, no newline": b"hello world",
    "one line": b"hello world\n",
    "a config file": b"[server]\nport = 8080\n",
    "JSON lines of another tool": b'{"level": "info", "msg": "started"}\n',
    "a JSON array": b"[1, 2, 3]\n",
    "text then ledger lines": b"# notes\n" + b'{"v":1,"event":"sending"}\n',
}


@pytest.mark.parametrize("content", UNRELATED.values(), ids=UNRELATED.keys())
@pytest.mark.slow
def test_a_file_that_is_not_a_ledger_is_refused_and_left_as_it_was(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
) -> None:
    """`--ledger` at an unrelated one-line file deleted that line as "torn"."""
    sb = make_sandbox()
    write_manifest(tmp_path / "m" / "m.yaml", 2)
    other = tmp_path / "notes.txt"
    other.write_bytes(content)
    before = os.stat(other)
    commands = [
        ["run", str(tmp_path / "m"), "--ledger", str(other), "--base-url", sb.base_url],
        ["plan", str(tmp_path / "m"), "--ledger", str(other)],
        ["ledger", "summary", str(other)],
    ]
    for command in commands:
        code = main(command)
        out, err = capsys.readouterr()
        assert code == 2, (command, err)
        assert out == ""
        assert err == (
            f"launcher: error: {other} does not look like a launcher ledger: line 1 is not a "
            "ledger event; it was left as it is. "
            "Pass the path of a ledger, or of a new file, to --ledger\n"
        )
    assert other.read_bytes() == content and os.stat(other).st_mtime_ns == before.st_mtime_ns
    assert HOLDER_XATTR not in os.listxattr(other)
    assert sb.stats()["requests"] == 0


def ledger_line(name: str, event: str, **fields: object) -> bytes:
    doc = {"v": 1, "ts": "2026-11-29T08:30:00.000Z", "event": event, "entry": f"m.yaml#{name}"}
    doc |= {"name": name, "key": f"k-{name}", "run_id": "r1", "content": "c", **fields}
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


@pytest.mark.parametrize("last", [b"{garbage}\n", b'{"v":1,"ts":"2026-11-29T08\n', b"12\n"])
@pytest.mark.slow
def test_a_complete_last_line_that_is_not_json_is_damage_and_kept(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    env: None,
    capsys: pytest.CaptureFixture[str],
    last: bytes,
) -> None:
    """A line that ends in "\\n" was written whole, so no crash tore it: it is damage, to be
    reported with its number and kept (it may have been a `created`), never cut off."""
    sb = make_sandbox()
    write_manifest(tmp_path / "m" / "m.yaml", 2)
    ledger = tmp_path / "l.jsonl"
    good = ledger_line("a", "sending", attempt=1) + ledger_line("a", "created", session_id="s")
    ledger.write_bytes(good + b"\n" + last)
    for command in (
        ["run", str(tmp_path / "m"), "--ledger", str(ledger), "--base-url", sb.base_url],
        ["ledger", "summary", str(ledger)],
    ):
        code = main(command)
        out, err = capsys.readouterr()
        assert code == 2 and out == ""
        assert err.startswith(f"launcher: error: ledger {ledger} is damaged at line 4: ")
    assert ledger.read_bytes() == good + b"\n" + last
    assert sb.stats()["requests"] == 0


@pytest.mark.slow
def test_a_fifo_as_the_ledger_is_refused_at_once(tmp_path: Path, make_sandbox: MakeSandbox) -> None:
    """Reading a FIFO waits for a writer forever; a run against one used to hang."""
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 2)
    fifo = tmp_path / "l.jsonl"
    os.mkfifo(fifo)
    env = launcher_env(sb.base_url)
    for command in (
        ["run", str(tmp_path / "m.yaml"), "--ledger", str(fifo)],
        ["ledger", "summary", str(fifo)],
    ):
        try:
            done = subprocess.run(
                launcher_cmd(*command), env=env, capture_output=True, text=True, timeout=60
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"`launcher {command[0]}` hung on a FIFO")
        assert done.returncode == 2
        assert done.stderr == (
            f"launcher: error: ledger {fifo} is not a regular file (a FIFO, a device or a "
            "socket); pass the path of a file to --ledger\n"
        )
    assert sb.stats()["requests"] == 0
