"""What a person sees of `run --wait`, for real: off a terminal (a cron log), every line
stamped and no session line twice; on a terminal (a tmux pane, its frames captured while
the run works), one live table, and no log line glued to it."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from launcher.sandbox.handle import SandboxHandle
from tests.support.runkit import MakeSandbox, launcher_env, run_launcher

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


def _manifest(path: Path, n: int, work: float) -> Path:
    path.write_text(
        "version: 1\n"
        f'defaults:\n  tags: ["sandbox:work={work}"]\n'
        "sessions:\n  - name: task-${{ matrix.i }}\n    prompt: Do ${{ matrix.i }}\n"
        f"    matrix:\n      i: [{', '.join(map(str, range(n)))}]\n"
    )
    return path


@pytest.mark.slow
def test_off_a_terminal_every_line_is_stamped_and_no_session_line_repeats(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    sb: SandboxHandle = make_sandbox()
    manifest = _manifest(tmp_path / "m.yaml", 30, 2)
    ledger = str(tmp_path / "l.jsonl")
    done = run_launcher(
        "run",
        str(manifest),
        "--ledger",
        ledger,
        "--wait",
        "--poll-interval",
        "0.5",
        env=launcher_env(sb.base_url),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines() + done.stderr.splitlines()
    assert lines and all(STAMP.match(line) for line in lines), lines
    said = [STAMP.sub("", line) for line in done.stdout.splitlines()]
    sessions = [s for s in said if "m.yaml#task-" in s]
    assert not [s for s, n in Counter(sessions).items() if n > 1]  # never a repeat
    for i in range(30):  # each session: created, and one line when it finished
        mine = [s for s in sessions if re.search(rf"m\.yaml#task-{i}\b", s)]
        assert mine[0].startswith("created  ") and mine[-1].startswith("finished ")
    assert said[-1] == "30 of 30 ended well (30 finished)"


def _frames(command: str, env: dict[str, str], width: int, height: int) -> list[str]:
    """The pane's text, captured every 50 ms while `command` runs in a tmux session."""
    name = f"launcher-test-{time.monotonic_ns()}"
    env_words = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    shell = f"env {env_words} {command}; echo EXIT=$?; sleep 60"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), shell],
        check=True,
    )
    frames: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            frame = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", name],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            frames.append(frame)
            if "EXIT=" in frame:
                break
            time.sleep(0.05)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], check=False)
    return frames


# A log line starts where a line starts: these never follow other text on a screen line.
LOG_STARTS = ("launcher: ", "created  m.yaml#", "30 of", "EXIT=")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_on_a_terminal_no_frame_glues_a_log_line_to_the_live_table(
    tmp_path: Path, make_sandbox: MakeSandbox, request: pytest.FixtureRequest
) -> None:
    sb: SandboxHandle = make_sandbox()
    manifest = _manifest(tmp_path / "m.yaml", 30, 2)
    env = {**launcher_env(sb.base_url), "TERM": "xterm-256color"}
    for name in ("NO_COLOR", "COLUMNS", "LINES"):  # the pane's own size, as a person's
        env.pop(name, None)
    command = (
        f"{shlex.quote(sys.executable)} -m launcher run {shlex.quote(str(manifest))} "
        f"--ledger {shlex.quote(str(tmp_path / 'l.jsonl'))} --wait --poll-interval 0.5"
    )
    frames = _frames(command, env, 110, 50)
    assert "EXIT=0" in frames[-1], frames[-1]
    tables = [f for f in frames if re.search(r"^entry +status +age +PR", f, re.M)]
    assert tables, frames[-1]  # the live table was drawn
    for frame in frames:
        for line in frame.splitlines():
            for start in LOG_STARTS:
                where = line.find(start)
                assert where in (-1, 0), f"glued: {line!r}"
    # The screenshot of the docs, from the frame with the most sessions working.
    best = max(tables, key=lambda f: f.count(" working "))
    (tmp_path / "live-table.txt").write_text(best)
    print(best)
