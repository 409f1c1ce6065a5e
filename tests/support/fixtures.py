"""The shared fixtures (a pytest plugin, loaded by tests/conftest.py).

- `sandbox`: one in-thread sandbox (launcher.sandbox) on a free loopback port.
- `make_sandbox(**overrides)`: in-thread sandboxes with SandboxConfig fields overridden.
- `sandbox_process(**overrides)`: the same in a child process (for tests that kill the
  launcher, or that check what the sandbox printed: `handle.output()`).
- `env`: DEVIN_API_KEY and TEST_SECRET set to the known test values, DEVIN_BASE_URL unset.
- `tiny_disk`: a real 16 KiB file system (skipped where tmpfs cannot be mounted).

Every sandbox is stopped when its test ends. Unless a test passes `api_key=...`, the
fixtures' sandboxes accept any bearer token (`api_key=None`), so that tests may set
DEVIN_API_KEY to whatever they like.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.handle import SandboxHandle
from launcher.sandbox.process import SandboxProcess, start_sandbox_process
from launcher.sandbox.server import running_sandbox
from tests.support.runkit import API_KEY, SECRET

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


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVIN_API_KEY", API_KEY)
    monkeypatch.setenv("TEST_SECRET", SECRET)
    monkeypatch.delenv("DEVIN_BASE_URL", raising=False)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 16 KiB file system, so the ledger really runs out of space."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)
