"""The repository stands alone: nothing in the code, the tests or the docs points to a
document outside it (a specification section, an issue number, a team folder)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.paths import ROOT

# Built from parts, so that this file does not match itself.
OUTSIDE = re.compile("SPEC" + " §|" + "issue" + r" [0-9]|\.\./" + "shared", re.IGNORECASE)
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".json", ".cfg"}


def _sources() -> list[Path]:
    found = [ROOT / "README.md"]
    for top in ("launcher", "docs", "tests"):
        found += [
            p
            for p in (ROOT / top).rglob("*")
            if p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts
        ]
    return found


def test_nothing_cites_a_document_outside_the_repository() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in _sources()
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not hits, "\n".join(hits)


def test_the_check_sees_a_citation() -> None:
    assert OUTSIDE.search("as " + "SPEC" + " §4 says")
    assert OUTSIDE.search("fixed in " + "issue" + " 12")
