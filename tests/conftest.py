"""Shared fixtures: the sandbox (launcher.sandbox) on a free loopback port.

- `sandbox`: one in-thread sandbox with the defaults below.
- `make_sandbox(**overrides)`: in-thread sandboxes with SandboxConfig fields overridden.
- `sandbox_process(**overrides)`: the same in a child process (for tests that kill the
  launcher, or that check what the sandbox printed: `handle.output()`).

Every sandbox is stopped when its test ends. Unless a test passes `api_key=...`, the
fixtures' sandboxes accept any bearer token (`api_key=None`), so that tests may set
DEVIN_API_KEY to whatever they like.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import settings

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.handle import SandboxHandle
from launcher.sandbox.process import SandboxProcess, start_sandbox_process
from launcher.sandbox.server import running_sandbox

FIXTURE_CONFIG = SandboxConfig(host="127.0.0.1", port=0, api_key=None)


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(FIXTURE_CONFIG) as handle:
        yield handle


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxHandle]]:
    with ExitStack() as stack:

        def make(**overrides: Any) -> SandboxHandle:
            return stack.enter_context(running_sandbox(replace(FIXTURE_CONFIG, **overrides)))

        yield make


@pytest.fixture
def sandbox_process() -> Iterator[Callable[..., SandboxProcess]]:
    with ExitStack() as stack:

        def make(**overrides: Any) -> SandboxProcess:
            return stack.enter_context(start_sandbox_process(replace(FIXTURE_CONFIG, **overrides)))

        yield make


# `HYPOTHESIS_PROFILE=fresh` runs without the example database, so that a run draws only
# from its seed (`--hypothesis-seed=random`) and replays no example saved by an earlier run.
settings.register_profile("fresh", database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
