"""`launcher config` in a real process: a value from the project file, the same key
overridden by the environment, then by a flag, each shown with where it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.runkit import launcher_env, run_launcher


@pytest.mark.slow
def test_config_shows_file_then_environment_then_flag(tmp_path: Path) -> None:
    project = tmp_path / "launcher.toml"
    project.write_text('# the team\'s defaults\nrun-key = "nightly"\nconcurrency = 3\n')
    work = tmp_path / "manifests" / "deep"
    work.mkdir(parents=True)  # found upward from the working directory

    from_file = run_launcher("config", env=launcher_env(), cwd=work)
    assert from_file.returncode == 0, from_file.stderr
    lines = {line.split()[0]: line for line in from_file.stdout.splitlines()}
    assert lines["concurrency"].split() == ["concurrency", "3", "file", f"{project}:3"]
    assert lines["run-key"].split() == ["run-key", "nightly", "file", f"{project}:2"]
    assert lines["ledger"].split()[1:] == ["launcher-ledger.jsonl", "default"]

    env = launcher_env(LAUNCHER_CONCURRENCY="5")
    from_env = run_launcher("config", env=env, cwd=work)
    lines = {line.split()[0]: line for line in from_env.stdout.splitlines()}
    assert lines["concurrency"].split() == [
        "concurrency",
        "5",
        "environment",
        "LAUNCHER_CONCURRENCY",
    ]
    assert lines["run-key"].split()[2] == "file"

    from_flag = run_launcher("config", "--concurrency", "7", env=env, cwd=work)
    lines = {line.split()[0]: line for line in from_flag.stdout.splitlines()}
    assert lines["concurrency"].split() == ["concurrency", "7", "flag", "--concurrency"]


def test_unknown_key_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.launcher]\nrun_key = "n"\n'
    )
    res = run_launcher("config", env=launcher_env(), cwd=tmp_path)
    assert res.returncode == 2
    assert (
        f"{tmp_path / 'pyproject.toml'}:5: unknown key 'run_key'; did you mean 'run-key'?"
        in res.stderr
    )
    assert "Traceback" not in res.stderr
