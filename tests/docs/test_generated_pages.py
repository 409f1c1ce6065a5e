"""The generated reference pages are current, and their checks fail on a flag or a field
nobody documented: docs/reference/cli.md from the parser, manifest-fields.md from the
schemas. `python -m launcher.cli.clidoc --check` and `launcher.api.fielddoc --check`
run the same comparisons."""

from __future__ import annotations

import argparse
import copy

import pytest

from launcher.api import fielddoc, schemagen
from launcher.cli import clidoc
from launcher.cli.parser import build_parser
from tests.support.paths import ROOT

CLI_PAGE = ROOT / clidoc.PAGE
FIELDS_PAGE = ROOT / fielddoc.PAGE


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise LookupError(name)


def test_the_cli_page_is_what_the_parser_makes() -> None:
    assert clidoc.check(CLI_PAGE) == []


def test_the_fields_page_is_what_the_schemas_make() -> None:
    assert fielddoc.check(FIELDS_PAGE) == []


def test_the_check_commands_exit_0_on_the_committed_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    assert clidoc.main(["--check"]) == 0
    assert fielddoc.main(["--check"]) == 0


def test_every_command_and_option_is_on_the_cli_page() -> None:
    page = CLI_PAGE.read_text()
    parser = build_parser()
    for command in ("validate", "plan", "run", "watch", "results", "ledger summary"):
        assert f"\n## launcher {command}\n" in page
    for flag in ("--wait", "--poll-interval", "--blocked-ok", "--max-active", "--shard"):
        assert f"`{flag}" in page.split("\n## launcher run\n")[1].split("\n## ")[0], flag
    assert clidoc.undocumented(parser) == []


def test_an_undocumented_flag_fails_the_cli_check(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    _subparser(parser, "run").add_argument("--brand-new", action="store_true")

    problems = clidoc.check(CLI_PAGE, parser)

    assert problems == [
        "launcher run --brand-new: no help text",
        f"{CLI_PAGE} is out of date: run python -m launcher.cli.clidoc",
    ]


def test_a_new_flag_with_help_fails_until_the_page_is_regenerated() -> None:
    parser = build_parser()
    _subparser(parser, "plan").add_argument("--brand-new", help="a flag added today")

    assert clidoc.check(CLI_PAGE, parser) == [
        f"{CLI_PAGE} is out of date: run python -m launcher.cli.clidoc"
    ]
    assert "| `--brand-new BRAND_NEW` | a flag added today |" in clidoc.render(parser)


def test_a_new_manifest_field_fails_the_fields_check() -> None:
    schema = copy.deepcopy(schemagen.editor_schema())
    schema["definitions"]["session"]["properties"]["brand_new"] = {"type": "string"}

    assert fielddoc.check(FIELDS_PAGE, schema) == [
        f"{FIELDS_PAGE} is out of date: run python -m launcher.api.fielddoc"
    ]
    assert "| `brand_new` | string |" in fielddoc.render(schema)
