"""The start-up budget: `launcher --version` and `validate` of one small file load no HTTP,
server, terminal-UI or templating library (those are for the commands that use them).

Measured with `python -X importtime` in a child process, so the check sees exactly what a
user's command imports. The times themselves are measured in bench/bench_startup.py, not
here: a shared machine makes any time assertion a coin toss.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from launcher.manifest import check
from tests.support.ledgerkit import CREATED, event

ROOT = Path(__file__).resolve().parents[3]

# What the fast paths must never import: the HTTP stack, the sandbox's server, the terminal
# UI and the report's templates. Each is imported by the command that needs it.
MUST_NOT_LOAD = (
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "tenacity",
    "starlette",
    "uvicorn",
    "rich",
    "jinja2",
    "argcomplete",
)


def _imported(*argv: str, code: int = 0, env: dict[str, str] | None = None) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "launcher", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **(env or {})},
    )
    assert done.returncode == code, done.stdout + done.stderr
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            names.add(name.split(".")[0])
    assert "launcher" in names  # the check reads the right output
    return names


@pytest.mark.parametrize(
    "argv",
    [("--version",), ("validate", "manifests/examples/hello.yaml")],
    ids=["version", "validate"],
)
def test_the_fast_paths_load_no_http_server_or_terminal_library(argv: tuple[str, ...]) -> None:
    loaded = _imported(*argv)
    assert sorted(loaded.intersection(MUST_NOT_LOAD)) == []


def test_a_command_that_speaks_http_loads_no_command_line_of_httpx() -> None:
    """httpx imports its own CLI (click, pygments) when click is installed, as the sandbox
    extra installs it; the launcher keeps it out of every command that sends."""
    argv = ("auth", "check", "--base-url", "http://127.0.0.1:9", "--api-key-env", "NO_SUCH")
    loaded = _imported(*argv, code=2)  # no key: refused, once the connection is resolved
    assert "httpx" in loaded  # the check sees a command that speaks HTTP
    assert not loaded & {"click", "pygments"}, loaded & {"click", "pygments"}


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_run_with_nothing_to_send_loads_no_http_or_terminal_library(
    tmp_path: Path, fmt: str
) -> None:
    """A quiet night (every entry created before) answers from the ledger alone: the
    dispatcher and the HTTP stack are never loaded; off a terminal, nor is rich."""
    manifest = ROOT / "manifests/examples/hello.yaml"
    (entry,) = check([str(manifest)]).entries
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text(
        event("created", key=entry.key, name=entry.name, **CREATED).replace(
            '"m.yaml#', f'"{entry.file}#'
        )
    )
    argv = ("run", str(manifest), "--ledger", str(ledger), "--format", fmt)
    loaded = _imported(*argv, env={"DEVIN_API_KEY": "test-key-not-a-secret"})
    assert "yaml" in loaded  # the manifest was read
    assert sorted(loaded & {"httpx", "httpcore", "h11", "tenacity", "rich"}) == []
    assert ledger.read_text().count("\n") == 1  # nothing was written: nothing was sent
