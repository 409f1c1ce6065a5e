"""The docs site builds with `mkdocs build --strict`: every page in the nav (mkdocs.yml
warns of one left out, and strict makes that an error), every link to a page or a heading
that exists."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

MKDOCS = Path(sys.executable).with_name("mkdocs")


@pytest.mark.slow
def test_the_site_builds_strict(tmp_path: Path) -> None:
    if not MKDOCS.exists() and shutil.which("mkdocs") is None:
        pytest.skip("mkdocs-material is not installed (the `docs` extra)")
    done = subprocess.run(
        [
            str(MKDOCS if MKDOCS.exists() else "mkdocs"),
            "build",
            "--strict",
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").exists()
