"""The project file and LAUNCHER_* variables: found upward, checked with FILE:LINE, and
applied under the flags (flag > environment > file > default), through `main`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from launcher.cli import main
from launcher.errors import UsageError
from launcher.project import find_project_file, key_lines, load_project_file, resolve


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LAUNCHER_") or name == "DEVIN_BASE_URL":
            monkeypatch.delenv(name)


def _config(capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, dict[str, object]]:
    assert main(["config", "--format", "json", *flags]) == 0
    doc = json.loads(capsys.readouterr().out)
    return {s["key"]: s for s in doc["settings"]}


def test_found_upward_from_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "launcher.toml").write_text('run-key = "nightly"\n')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project_file(deep) == tmp_path / "launcher.toml"


def test_pyproject_counts_only_with_a_launcher_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.launcher]\nconcurrency = 4\n")
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_project_file(inner) == tmp_path / "pyproject.toml"
    project = load_project_file(tmp_path / "pyproject.toml")
    assert project.values == {"concurrency": (4, 2)}


def test_launcher_toml_wins_over_pyproject_in_one_folder(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.launcher]\nconcurrency = 4\n")
    (tmp_path / "launcher.toml").write_text("concurrency = 2\n")
    assert find_project_file(tmp_path) == tmp_path / "launcher.toml"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            'concurrency = 3\n\nrun_key = "x"\n',
            3,
            ["unknown key 'run_key'", "did you mean 'run-key'"],
        ),
        ("# c\n[retries]\nmax = 3\n", 2, ["unknown key 'retries'"]),
        ("concurrency = 0\n", 1, ["concurrency = 0", "at least 1"]),
        ('concurrency = "many"\n', 1, ["must be a whole number"]),
        ("poll-interval = true\n", 1, ["must be a number", "boolean"]),
        ('rate = "fast"\n', 1, ["is not a rate"]),
        ("\n\nconcurrency = = 3\n", 3, ["not valid TOML"]),
        ('base-url = "ftp://x"\n', 1, ["is not an http(s) URL"]),
    ],
)
def test_a_bad_file_names_file_and_line(
    tmp_path: Path, text: str, line: int, words: list[str]
) -> None:
    path = tmp_path / "launcher.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as err:
        load_project_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: ")
    for word in words:
        assert word in message


def test_unknown_key_in_pyproject_points_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[project]\nname = "x"\nledger = "no"\n\n'
        '[tool.launcher]\nledger = "l.jsonl"\nconcurency = 3\n'
    )
    with pytest.raises(
        UsageError, match=r"pyproject.toml:7: unknown key 'concurency'; did you mean 'concurrency'"
    ):
        load_project_file(path)


def test_key_lines_reads_quoted_keys_and_sub_tables() -> None:
    text = '"run-key" = "a"\n[x]\nledger = 1\n'
    assert key_lines(text, ()) == {"run-key": 1, "x": 2}
    assert key_lines("[tool.launcher.deep]\n", ("tool", "launcher")) == {"deep": 1}


def test_a_ledger_in_the_file_is_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "launcher.toml").write_text('ledger = "state/ledger.jsonl"\n')
    project = load_project_file(tmp_path / "launcher.toml")
    assert project.values["ledger"] == (str(tmp_path / "state" / "ledger.jsonl"), 1)


def test_precedence_flag_environment_file_default(tmp_path: Path) -> None:
    (tmp_path / "launcher.toml").write_text("concurrency = 3\nrate = 5\n")
    project = load_project_file(tmp_path / "launcher.toml")
    keys = ("concurrency", "rate", "poll-interval")
    env = {"LAUNCHER_CONCURRENCY": "5", "LAUNCHER_RATE": ""}  # empty: not set
    values = resolve(keys, {}, env, project)
    assert values["concurrency"].source == "environment" and values["concurrency"].value == 5
    assert values["rate"].source == "file" and values["rate"].value == 5.0
    assert values["poll-interval"].source == "default" and values["poll-interval"].value == 20.0
    flagged = resolve(keys, {"concurrency": 7}, env, project)["concurrency"]
    assert (flagged.value, flagged.source, flagged.where) == (7, "flag", "--concurrency")


def test_a_bad_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"\$LAUNCHER_MAX_ACTIVE='0': must be at least 1"):
        resolve(("max-active",), {}, {"LAUNCHER_MAX_ACTIVE": "0"}, None)


def test_devin_base_url_is_read_after_launcher_base_url() -> None:
    env = {"DEVIN_BASE_URL": "http://127.0.0.1:9/v1"}
    value = resolve(("base-url",), {}, env, None)["base-url"]
    # kept as written: the connection reads the API generation its /v1 or /v3 names
    assert (value.value, value.where) == ("http://127.0.0.1:9/v1", "DEVIN_BASE_URL")
    env["LAUNCHER_BASE_URL"] = "http://127.0.0.1:8"
    assert resolve(("base-url",), {}, env, None)["base-url"].where == "LAUNCHER_BASE_URL"


def test_a_password_in_devin_base_url_is_never_shown() -> None:
    env = {"DEVIN_BASE_URL": "https://me:PASSWORDMARKER@api.devin.ai"}
    with pytest.raises(UsageError, match="holds a user name or password") as caught:
        resolve(("base-url",), {}, env, None)
    assert "PASSWORDMARKER" not in str(caught.value) and "***@api.devin.ai" in str(caught.value)


def test_config_command_shows_each_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "launcher.toml").write_text('run-key = "nightly"\nconcurrency = 3\n')
    monkeypatch.chdir(tmp_path)
    got = _config(capsys)
    assert got["concurrency"] == {
        "key": "concurrency",
        "value": 3,
        "source": "file",
        "where": f"{tmp_path / 'launcher.toml'}:2",
    }
    assert got["ledger"]["source"] == "default"
    monkeypatch.setenv("LAUNCHER_CONCURRENCY", "5")
    assert _config(capsys)["concurrency"]["value"] == 5
    assert _config(capsys, "--concurrency", "7")["concurrency"]["source"] == "flag"
    assert main(["config"]) == 0
    text = capsys.readouterr().out
    assert "concurrency    5" in text and "environment LAUNCHER_CONCURRENCY" in text


def test_a_bad_file_stops_a_command_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "launcher.toml").write_text("concurency = 3\n")
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "nothing.yaml", "--format", "json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["kind"] == "usage"
    assert "launcher.toml:1: unknown key 'concurency'" in doc["error"]["message"]


def test_the_file_sets_what_plan_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run key from the file changes the dispatch keys `plan` computes, as the flag."""
    (tmp_path / "m.yaml").write_text("version: 1\nsessions:\n  - name: a\n    prompt: p\n")
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "m.yaml", "--format", "json", "--run-key", "k1"]) == 0
    by_flag = json.loads(capsys.readouterr().out)["entries"][0]["key"]
    (tmp_path / "launcher.toml").write_text('run-key = "k1"\nledger = "sub/l.jsonl"\n')
    assert main(["plan", "m.yaml", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"][0]["key"] == by_flag


def test_a_password_in_the_file_is_never_shown(tmp_path: Path) -> None:
    path = tmp_path / "launcher.toml"
    path.write_text('\nbase-url = "https://bob:hunter2@api.example.com"\n')
    with pytest.raises(UsageError) as err:
        load_project_file(path)
    assert str(err.value).startswith(f"{path}:2: base-url = 'https://***@api.example.com'")
    assert "hunter2" not in str(err.value) and "bob" not in str(err.value)


def test_config_warns_of_a_mistyped_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAUNCHER_CONCURENCY", "3")
    monkeypatch.setenv("LAUNCHER_ALLOW_INSECURE_HTTP", "1")
    assert main(["config"]) == 0
    err = capsys.readouterr().err
    assert "LAUNCHER_CONCURENCY is set but is no launcher setting; did you mean " in err
    assert "LAUNCHER_CONCURRENCY?" in err and "ALLOW_INSECURE" not in err


def test_a_file_anyone_can_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "launcher.toml"
    path.write_text('base-url = "https://evil.example"\n')
    path.chmod(0o666)
    with pytest.raises(UsageError, match="anyone can write the project file"):
        load_project_file(path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_a_file_of_another_user_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "launcher.toml"
    path.write_text('base-url = "https://evil.example"\n')
    os.chown(path, 4242, -1)
    with pytest.raises(UsageError, match=r"belongs to another user \(uid 4242\)"):
        load_project_file(path)
