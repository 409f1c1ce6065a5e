"""Help for mistakes: a mistyped subcommand, choice or flag is answered with the nearest
name, in text and in the JSON document; `watch --timeout` still works, and says its new
name."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

import pytest

from launcher.cli import main
from launcher.cli.parser import build_parser
from launcher.sandbox.config import DEFAULT_API_KEY
from launcher.sandbox.server import export_lines


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["valdate", "x"], "did you mean `validate`?"),
        (["ledger", "sumary", "f"], "did you mean `summary`?"),
        (["plan", "m.yaml", "--ledgr", "l"], "did you mean `--ledger`?"),
        (["validate", "--quite", "m.yaml"], "did you mean `--quiet`?"),
        (["run", "m.yaml", "--wait-timout=5"], "did you mean `--wait-timeout`?"),
        (["validate", "--format", "jsn", "m.yaml"], "did you mean `json`?"),
    ],
)
def test_a_mistake_gets_the_nearest_name(
    argv: list[str], hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert hint in capsys.readouterr().err


def test_the_hint_is_in_the_json_document_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--quite", "m.yaml", "--format", "json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["kind"] == "usage"
    assert "did you mean `--quiet`?" in doc["error"]["message"]


def test_nothing_close_gets_no_guess(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--zzzzzz", "m.yaml"]) == 2
    assert "did you mean" not in capsys.readouterr().err


def test_watch_timeout_is_the_deprecated_spelling_of_wait_timeout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from launcher.cli.parser import build_parser

    old = build_parser().parse_args(["watch", "m.yaml", "--timeout", "5"])
    assert "--timeout is deprecated; use --wait-timeout" in capsys.readouterr().err
    new = build_parser().parse_args(["watch", "m.yaml", "--wait-timeout", "5"])
    assert old.watch_timeout == new.watch_timeout == 5.0


def test_the_sandbox_export_lines_point_the_launcher_at_it() -> None:
    url = "http://127.0.0.1:8123"
    assert export_lines(url, DEFAULT_API_KEY) == (
        f"export DEVIN_BASE_URL={url}\nexport DEVIN_API_KEY={DEFAULT_API_KEY}"
    )
    assert export_lines(url, None).endswith("DEVIN_API_KEY=sandbox-any-token")
    chosen = export_lines(url, "my-own-sandbox-key")
    assert "my-own-sandbox-key" not in chosen and "--api-key" in chosen


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
                yield from _commands(sub, f"{prefix}{name} ") if nested else [(prefix + name, sub)]


def test_every_command_takes_quiet_and_verbose() -> None:
    commands = dict(_commands(build_parser()))
    assert {"report", "sandbox", "completion", "run", "ledger summary"} <= set(commands)
    lacking = [
        name
        for name, sub in commands.items()
        if not {"-q", "--quiet", "-v", "--verbose"} <= set(sub._option_string_actions)
    ]
    assert lacking == []


@pytest.mark.parametrize("flag", ["-q", "-v"])
def test_completion_prints_its_script_and_with_v_where_to_put_it(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", "fish", flag]) == 0
    out, err = capsys.readouterr()
    assert "complete" in out and "launcher" in out
    expected = "launcher: load it in every shell: launcher completion fish | source"
    assert err.startswith(expected) if flag == "-v" else err == ""
