"""Every command's `--format json` document, taken from real runs against a sandbox on
loopback, validates against its JSON Schema in `schemas/output/`, in success and in error.
Adding a command without a schema fails `test_every_command_has_a_schema`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from launcher.cli import main
from launcher.cli.parser import build_parser
from launcher.output.json_report import FORMAT_VERSION
from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.server import running_sandbox
from tests.support.runkit import API_KEY, SECRET, assert_no_secrets

SCHEMAS = Path(__file__).parents[2] / "schemas" / "output"
# Commands that print no JSON document: a server in the foreground, a shell script.
NO_JSON = {"sandbox", "completion"}

QUICK = '  tags: ["sandbox:work=0", "sandbox:end=finished", "sandbox:pr=yes"]\n'
SLOW = '  tags: ["sandbox:work=600"]\n'
MANIFEST = """\
version: 1
defaults:
{tags}sessions:
  - name: hello
    prompt: Say hello
  - name: with-secret
    prompt: Use the token
    session_secrets:
      - key: TOKEN
        value: ${{{{ env.TEST_SECRET }}}}
"""
BAD = "version: 1\nsessions:\n  - name: x\n    promt: typo\n"


@dataclass(frozen=True)
class World:
    root: Path
    base_url: str

    def path(self, name: str) -> str:
        return str(self.root / name)


def _leaves(parser: Any, prefix: str = "") -> Iterator[str]:
    for action in parser._actions:
        if hasattr(action, "choices") and isinstance(action.choices, dict):
            for name, sub in action.choices.items():
                full = f"{prefix} {name}".strip()
                nested = any(isinstance(getattr(a, "choices", None), dict) for a in sub._actions)
                yield from _leaves(sub, full) if nested else [full]


def _schema_name(command: str) -> str:
    return command.replace(" ", "-") + ".schema.json"


def _registry() -> Registry:
    resources = []
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


# command -> (argv on success, argv on error, the error's exit code)
Argv = Callable[[World], list[str]]
CASES: dict[str, tuple[Argv, Argv, int]] = {
    "validate": (
        lambda w: ["validate", w.path("quick")],
        lambda w: ["validate", w.path("bad")],
        2,
    ),
    "plan": (
        lambda w: ["plan", w.path("quick"), "--ledger", w.path("new.jsonl")],
        lambda w: ["plan", w.path("bad"), "--ledger", w.path("new.jsonl")],
        2,
    ),
    "show": (
        lambda w: ["show", w.path("quick.plan")],
        lambda w: ["show", w.path("bad.plan")],
        2,
    ),
    "run": (
        lambda w: [
            "run",
            w.path("quick"),
            "--ledger",
            w.path("run.jsonl"),
            "--base-url",
            w.base_url,
        ],
        lambda w: ["run", w.path("quick"), "--ledger", w.path("r.jsonl"), "--no-such-flag"],
        2,
    ),
    "watch": (
        lambda w: [
            "watch",
            w.path("quick"),
            "--ledger",
            w.path("quick.jsonl"),
            "--base-url",
            w.base_url,
        ],
        lambda w: [
            "watch",
            w.path("quick"),
            "--ledger",
            w.path("none.jsonl"),
            "--base-url",
            w.base_url,
        ],
        2,
    ),
    "results": (
        lambda w: ["results", w.path("quick"), "--ledger", w.path("quick.jsonl")],
        lambda w: ["results", w.path("quick"), "--ledger", w.path("none.jsonl")],
        2,
    ),
    "report": (
        lambda w: ["report", w.path("quick"), "--ledger", w.path("quick.jsonl")],
        lambda w: ["report", w.path("quick"), "--ledger", w.path("none.jsonl")],
        2,
    ),
    "log": (
        lambda w: [
            "log",
            w.path("quick"),
            "--ledger",
            w.path("quick.jsonl"),
            "--base-url",
            w.base_url,
        ],
        lambda w: [
            "log",
            w.path("quick"),
            "--ledger",
            w.path("none.jsonl"),
            "--base-url",
            w.base_url,
        ],
        2,
    ),
    "cancel": (
        lambda w: [
            "cancel",
            w.path("slow"),
            "--ledger",
            w.path("cancel.jsonl"),
            "--run-key",
            "c",
            "--base-url",
            w.base_url,
        ],
        lambda w: [
            "cancel",
            w.path("bad"),
            "--ledger",
            w.path("cancel.jsonl"),
            "--base-url",
            w.base_url,
        ],
        2,
    ),
    "message": (
        lambda w: [
            "message",
            w.path("slow"),
            "--ledger",
            w.path("message.jsonl"),
            "--run-key",
            "m",
            "--text",
            "hi",
            "--base-url",
            w.base_url,
        ],
        lambda w: [
            "message",
            w.path("slow"),
            "--ledger",
            w.path("none.jsonl"),
            "--text",
            "hi",
            "--base-url",
            w.base_url,
        ],
        2,
    ),
    "rerun": (
        lambda w: [
            "rerun",
            w.path("quick"),
            "--ledger",
            w.path("rerun.jsonl"),
            "--status",
            "finished",
            "--base-url",
            w.base_url,
        ],
        lambda w: ["rerun", w.path("quick"), "--ledger", w.path("rerun.jsonl")],
        2,
    ),
    "ledger summary": (
        lambda w: ["ledger", "summary", w.path("quick.jsonl")],
        lambda w: ["ledger", "summary", w.path("quick.jsonl"), "--manifests", w.path("bad")],
        2,
    ),
    "ledger batches": (
        lambda w: ["ledger", "batches", w.path("quick.jsonl")],
        lambda w: ["ledger", "batches", w.path("none.jsonl")],
        2,
    ),
    "ledger merge": (
        lambda w: [
            "ledger",
            "merge",
            w.path("quick.jsonl"),
            w.path("message.jsonl"),
            "--output",
            w.path("merged.jsonl"),
        ],
        lambda w: ["ledger", "merge", w.path("quick.jsonl"), "--output", w.path("quick.jsonl")],
        2,
    ),
    "ledger compact": (
        lambda w: ["ledger", "compact", w.path("compact.jsonl")],
        lambda w: ["ledger", "compact", w.path("none.jsonl")],
        2,
    ),
    "auth check": (
        lambda w: ["auth", "check", "--base-url", w.base_url],
        lambda w: ["auth", "check", "--base-url", w.base_url, "--api-key-env", "WRONG_KEY"],
        3,
    ),
    "config": (
        lambda w: ["config"],
        lambda w: ["config", "--concurrency", "zero"],
        2,
    ),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Manifests; ledgers of settled sessions (quick) and of working ones (slow, one per
    command that acts on them), written by real runs."""
    root = tmp_path_factory.mktemp("json-output")
    for name, text in {
        "quick": MANIFEST.format(tags=QUICK),
        "slow": MANIFEST.format(tags=SLOW),
        "bad": BAD,
    }.items():
        (root / name).mkdir()
        (root / name / "m.yaml").write_text(text)
    config = SandboxConfig(host="127.0.0.1", port=0, api_key=API_KEY, work_seconds=0.1)
    with running_sandbox(config) as sb, pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEVIN_API_KEY", API_KEY)
        mp.setenv("TEST_SECRET", SECRET)
        w = World(root, sb.base_url)
        for manifest, ledger, key in (
            ("quick", "quick.jsonl", None),
            ("quick", "compact.jsonl", None),
            ("quick", "rerun.jsonl", None),
            ("slow", "cancel.jsonl", "c"),
            ("slow", "message.jsonl", "m"),
        ):
            argv = ["run", w.path(manifest), "--ledger", w.path(ledger), "--base-url", w.base_url]
            assert main([*argv, *(["--run-key", key] if key else []), "-q"]) == 0
        plan = ["plan", w.path("quick"), "--ledger", w.path("new.jsonl"), "-q"]
        assert main([*plan, "--out", w.path("quick.plan")]) == 0
        (root / "bad.plan").write_text("{}")
        yield w


@pytest.mark.parametrize("outcome", ["success", "error"])
@pytest.mark.parametrize("command", sorted(CASES))
@pytest.mark.slow
def test_json_output_validates_against_its_schema(
    command: str,
    outcome: str,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DEVIN_API_KEY", API_KEY)
    monkeypatch.setenv("WRONG_KEY", "apk_wrong_key")
    monkeypatch.setenv("TEST_SECRET", SECRET)
    monkeypatch.delenv("DEVIN_BASE_URL", raising=False)
    monkeypatch.chdir(world.root)
    success, error, error_code = CASES[command]
    capsys.readouterr()
    argv = (success if outcome == "success" else error)(world)
    code = main([*argv, "--format", "json"])
    out, err = capsys.readouterr()

    assert code == (0 if outcome == "success" else error_code), (out, err)
    doc = json.loads(out)  # exactly one document: json.loads refuses trailing data
    schema = json.loads((SCHEMAS / _schema_name(command)).read_text())
    validator = Draft202012Validator(schema, registry=_registry())
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert not problems, (problems, doc)
    assert doc["format_version"] == FORMAT_VERSION and doc["command"] == command
    assert ("error" in doc) is (outcome == "error") and doc["ok"] is (outcome == "success")
    assert_no_secrets(out, err)


def test_every_command_has_a_schema_and_a_case() -> None:
    commands = set(_leaves(build_parser())) - NO_JSON
    schemas = {p.name for p in SCHEMAS.glob("*.schema.json")} - {"envelope.schema.json"}
    assert {_schema_name(c) for c in commands} == schemas
    assert commands == set(CASES)


def test_the_schemas_are_valid_json_schemas() -> None:
    for path in SCHEMAS.glob("*.schema.json"):
        Draft202012Validator.check_schema(json.loads(path.read_text()))
