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
    """The longest tests first: those marked slow, then the other end-to-end and docs tests
    (real processes, waits), then the unit tests (a stable sort: each file's order is
    kept). pytest-xdist hands items out in this order as workers free up, so the waits of
    the long ones overlap and the many short ones fill the gaps at the end, instead of a
    few long tests running alone on an idle machine."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("slow") is not None:
            return 0
        return 1 if "/e2e/" in item.nodeid or "/docs/" in item.nodeid else 2

    items.sort(key=rank)
