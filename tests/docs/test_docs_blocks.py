"""The fenced ```sh blocks of docs/tutorial and docs/guides, run as written: each page's
blocks in order, in one bash, so that a guide cannot drift from what the launcher does.
(```text and ```console blocks are illustrations and are not run.)

Each page runs in a temporary folder holding a copy of `manifests/` and `docs/`, with a
temporary HOME and this suite's environment as `.venv` (what `make demo` leaves behind),
against a real sandbox over loopback that accepts one key. Substituted, and nothing else:
`apk_...` by that key, `cog_...` by `cog_` and that key (the sandbox's v3 token), the real
API by the sandbox (`DEVIN_BASE_URL`); `DEVIN_API_KEY` (that key) and the examples'
`EXAMPLE_TOKEN` are set, as a reader who did the tutorial has them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.handle import SandboxHandle
from launcher.sandbox.server import running_sandbox
from tests.support.paths import ROOT
from tests.support.runkit import API_KEY, assert_no_secrets

DOCS = ROOT / "docs"
VENV = Path(sys.prefix)
BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.M | re.S)


def sh_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


PAGES = sorted(
    p.relative_to(DOCS)
    for folder in ("tutorial", "guides")
    for p in (DOCS / folder).glob("*.md")
    if sh_blocks(p)
)


@pytest.fixture(scope="module")
def sandbox_with_key() -> Iterator[SandboxHandle]:
    # Sessions work one second, not five: the pages' `--wait` and `watch` end sooner.
    config = SandboxConfig(host="127.0.0.1", port=0, api_key=API_KEY, work_seconds=1.0)
    with running_sandbox(config) as sb:
        yield sb


def test_the_tutorial_and_some_guides_have_blocks_to_run() -> None:
    assert Path("tutorial/first-batch.md") in PAGES
    assert len(PAGES) >= 2


def test_a_text_block_is_not_run() -> None:
    assert sh_blocks(DOCS / "guides" / "deployment.md") == []  # docker, kubectl, systemctl


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=str)
def test_shell_blocks_run_as_written(
    page: Path, tmp_path: Path, sandbox_with_key: SandboxHandle
) -> None:
    if not (VENV / "bin" / "activate").exists() or not (VENV / "bin" / "launcher").exists():
        pytest.skip("the suite does not run in a venv with `launcher` installed")
    work = tmp_path / "clone"
    shutil.copytree(ROOT / "manifests", work / "manifests")
    shutil.copytree(DOCS, work / "docs")
    (work / ".venv").symlink_to(VENV)
    (tmp_path / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEVIN_", "LAUNCHER_"))}
    env.update(
        PATH=f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(tmp_path / "home"),
        DEVIN_BASE_URL=sandbox_with_key.base_url,
        DEVIN_API_KEY=API_KEY,
        EXAMPLE_TOKEN="docs-not-a-secret",
    )
    script = "\n".join(sh_blocks(DOCS / page))
    script = script.replace("apk_...", API_KEY).replace("cog_...", f"cog_{API_KEY}")

    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert done.returncode == 0, f"{page}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    assert_no_secrets(done.stdout, done.stderr)
