"""Shell completion (argcomplete): the installed `launcher` completes its own commands and
options, and `launcher completion bash|zsh|fish` prints the script that hooks it in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.runkit import launcher_env

LAUNCHER = Path(sys.executable).parent / "launcher"


def complete(line: str, tmp_path: Path, shell: str = "bash") -> list[str]:
    """What the shell hook asks for: the console script run with argcomplete's variables,
    the candidates written to the file it names."""
    answer = tmp_path / "candidates"
    env = launcher_env(
        _ARGCOMPLETE="1",
        _ARGCOMPLETE_SHELL=shell,
        # fish shows each candidate's help after a tab (its script sets the same)
        **({"_ARGCOMPLETE_DFS": "\t"} if shell == "fish" else {}),
        _ARGCOMPLETE_IFS="\n",
        _ARGCOMPLETE_STDOUT_FILENAME=str(answer),
        COMP_LINE=line,
        COMP_POINT=str(len(line)),
        COMP_TYPE="9",
    )
    done = subprocess.run(
        [str(LAUNCHER)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [c.strip() for c in answer.read_text().split("\n")]  # a sole match ends in " "


@pytest.mark.slow
def test_commands_and_options_complete(tmp_path: Path) -> None:
    assert "run" in complete("launcher r", tmp_path)
    assert set(complete("launcher ledger ", tmp_path)) >= {"summary", "merge", "compact"}
    assert "--shard" in complete("launcher run --sh", tmp_path)
    assert "--shard" in complete("launcher plan --sh", tmp_path)
    assert complete("launcher validate --format g", tmp_path) == ["github"]


@pytest.mark.slow
def test_fish_gets_candidates_with_their_help(tmp_path: Path) -> None:
    """What the fish script's function asks for: each candidate, a tab, its help."""
    candidates = dict(c.split("\t", 1) for c in complete("launcher r", tmp_path, "fish") if c)
    assert candidates["run"] == "validate, then dispatch every entry once"
    assert "results" in candidates and "report" in candidates
    # a sole match comes without its help: fish completes it at once
    assert complete("launcher watch --no", tmp_path, "fish") == ["--notify"]


def test_the_entry_point_carries_argcomplete_marker() -> None:
    """`register-python-argcomplete launcher` hooks in only scripts that carry it."""
    import launcher.cli

    head = Path(launcher.cli.__file__).read_bytes()[:1024]
    assert b"PYTHON_ARGCOMPLETE_OK" in head


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_shell_script(shell: str) -> None:
    done = subprocess.run(
        [str(LAUNCHER), "completion", shell],
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    hook = "__fish_launcher_complete" if shell == "fish" else "_python_argcomplete"
    assert hook in done.stdout and "launcher" in done.stdout
    if shell == "bash":
        check = subprocess.run(["bash", "-n"], input=done.stdout, text=True, check=False)
        assert check.returncode == 0
