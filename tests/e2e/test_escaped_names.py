"""A manifest file name with ESC and BEL, and ledger text holding them, reach no terminal raw:
every command's output passes through the one escaping function."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest

from launcher.sandbox.handle import SandboxHandle
from tests.support.runkit import launcher_cmd, launcher_env, run_launcher, write_manifest

pytestmark = pytest.mark.slow

NAME = "evil\x1b]0;pwned\x07\x1b[2J.yaml"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_a_file_name_with_esc_and_bel_reaches_no_terminal_raw(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    env = launcher_env(sandbox.base_url)
    folder = tmp_path / "m"
    write_manifest(folder / NAME, 2)
    ledger, other = tmp_path / "l.jsonl", tmp_path / "o.jsonl"
    common = (str(folder), "--ledger", str(ledger))
    outputs = [run_launcher("run", *common, env=env)]
    assert outputs[0].returncode == 0, outputs[0].stderr
    for command in (
        ("watch", *common, "--poll-interval", "0.2", "--timeout", "1"),
        ("message", *common, "--text", "hi"),
        ("cancel", *common),
        ("results", *common, "--format", "jsonl"),
        ("ledger", "summary", str(ledger)),
    ):
        outputs.append(run_launcher(*command, env=env))
    # The same key created twice with different sessions (ids with ESC): merge and compact
    # warn about it, naming the sessions.
    lines = ledger.read_text().splitlines(keepends=True)
    created = next(line for line in lines if '"event":"created"' in line)
    twice = re.sub(r'"session_id":"([^"]*)"', r'"session_id":"\1-\\u001b[2J\\u0007"', created)
    other.write_text(twice)
    outputs.append(run_launcher("ledger", "merge", str(ledger), str(other), "--output",
                                str(tmp_path / "merged.jsonl"), env=env))  # fmt: skip
    with ledger.open("a") as f:
        f.write(twice)
    outputs.append(run_launcher("ledger", "compact", str(ledger), env=env))
    # CSV keeps the data as it is in a file or a pipe; on a terminal it is escaped too.
    primary, secondary = pty.openpty()
    try:
        subprocess.run(
            launcher_cmd("results", *common, "--format", "csv"),
            env=env, stdout=secondary, stderr=secondary, timeout=60, check=True,
        )  # fmt: skip
        os.close(secondary)
        on_terminal = b""
        with contextlib.suppress(OSError):  # EIO once everything is read
            while chunk := os.read(primary, 65536):
                on_terminal += chunk
    finally:
        os.close(primary)
    assert b"\\x1b" in on_terminal and b"\x1b" not in on_terminal
    assert b"\x07" not in on_terminal
    for done in outputs:
        text = done.stdout + done.stderr
        assert "Traceback" not in text
        found = sorted({f"U+{ord(c):04X}" for c in RAW.findall(text)})
        assert not found, f"{done.args[3:5]}: raw control characters {found}\n{text!r}"
    assert "\\x1b" in outputs[0].stdout + outputs[0].stderr  # shown, as a visible escape
    for warned in outputs[-2:]:  # merge and compact name both sessions, escaped
        assert "-\\x1b[2J\\x07" in warned.stdout + warned.stderr, warned.stderr
