"""The docs site builds with `mkdocs build --strict`: every page in the nav, every link to
a page or a heading that exists. Nothing else in the suite reads the built site."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.paths import ROOT

MKDOCS = Path(sys.executable).with_name("mkdocs")


def _nav_pages(nav: list[object]) -> list[str]:
    pages: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            pages += _nav_pages(value)
        else:
            pages.append(str(value))
    return pages


def test_every_page_is_in_the_nav_once() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = _nav_pages(config["nav"])
    docs = ROOT / "docs"
    pages = sorted(
        str(p.relative_to(docs)) for p in docs.rglob("*.md") if "examples" not in p.parts
    )
    assert sorted(nav) == pages


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
