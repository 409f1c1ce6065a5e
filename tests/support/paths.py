"""Where things are in the repository, so that no test counts `parents[...]` itself."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
MANIFESTS = TESTS / "manifests"  # the good and bad example files the validate tests read
EXAMPLES = ROOT / "manifests" / "examples"
