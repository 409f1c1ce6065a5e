"""The suite's one conftest: the shared fixtures live in tests/support/fixtures.py.

The layout mirrors the package: tests/unit/<subpackage>/test_<module>.py, tests/e2e/
(the sandbox over loopback, subprocesses, signals), tests/docs/ (README and docs blocks),
and helpers in tests/support/, imported as `from tests.support.X import Y`.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# Plain `assert`s in the helpers (assert_no_secrets...) explain themselves like a test's.
pytest.register_assert_rewrite("tests.support")

pytest_plugins = ["tests.support.fixtures"]

# No per-example deadline: it is a timing assertion, and fails on a loaded machine (two cores
# shared by parallel runs) for no fault of the code. `HYPOTHESIS_PROFILE=fresh` also runs
# without the example database, so that a run draws only from its seed
# (`--hypothesis-seed=random`) and replays no example saved by an earlier run.
settings.register_profile("unhurried", deadline=None)
settings.register_profile("fresh", parent=settings.get_profile("unhurried"), database=None)
# `make test-all`: every property test draws the full number its test names
# (tests/support/budget.py), the others five times hypothesis's default.
settings.register_profile("thorough", parent=settings.get_profile("unhurried"), max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "unhurried"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (a stable sort: each file's order is kept): pytest-xdist hands
    the first items out round-robin, so the longest start at once on every worker instead
    of one of them ending the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
