"""Helpers for the run tests: manifests, ledgers, a launcher subprocess, secret checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from launcher.sandbox.handle import SandboxHandle
from launcher.sandbox.process import SandboxProcess

# The fixtures of tests/support/fixtures.py: `make_sandbox(**overrides)`,
# `sandbox_process(**overrides)`.
MakeSandbox = Callable[..., SandboxHandle]
MakeSandboxProcess = Callable[..., SandboxProcess]

API_KEY = "apk_test_SUPERSECRETKEY_1234567890"
SECRET = "hunter2-very-secret-value-987"


def write_manifest(
    path: Path,
    count: int,
    *,
    prefix: str = "task",
    idempotent: bool = False,
    tags: Sequence[str] = ("bulk",),
    secret: bool = True,
) -> Path:
    """A manifest whose matrix expands to `count` entries named PREFIX-0..N-1."""
    path.parent.mkdir(parents=True, exist_ok=True)
    items = ", ".join(str(i) for i in range(count))
    lines = [
        "version: 1",
        "defaults:",
        f"  idempotent: {'true' if idempotent else 'false'}",
        f"  tags: [{', '.join(json.dumps(t) for t in tags)}]",
        "sessions:",
        f"  - name: {prefix}-${{{{ matrix.i }}}}",
        "    matrix:",
        f"      i: [{items}]",
        f"    prompt: Do task ${{{{ matrix.i }}}} of {prefix}",
    ]
    if secret:
        lines += [
            "    session_secrets:",
            "      - key: TOKEN",
            "        value: ${{ env.TEST_SECRET }}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_ledger(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def created(events: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """entry id -> session id of every `created` event."""
    return {e["entry"]: e["session_id"] for e in events if e["event"] == "created"}


def launcher_env(base_url: str | None = None, **extra: str) -> dict[str, str]:
    # LAUNCHER_*: a developer's own defaults (the project file's variables) stay out.
    skip = ("DEVIN_", "NO_COLOR", "LAUNCHER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update({"DEVIN_API_KEY": API_KEY, "TEST_SECRET": SECRET, "PYTHONUNBUFFERED": "1"})
    if base_url:
        env["DEVIN_BASE_URL"] = base_url
    env.update(extra)
    return env


def launcher_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "launcher", *args]


def start_launcher(*args: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    """The launcher in a child process of its own, so that a test can kill it for real."""
    return subprocess.Popen(
        launcher_cmd(*args),
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_launcher(
    *args: str, env: Mapping[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        launcher_cmd(*args),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text, "a secret value leaked"
        assert API_KEY not in text, "the API key leaked"


SCHEMA = """\
  structured_output_schema:
    type: object
    required: [summary, ok]
    properties:
      summary: {type: string}
      ok: {type: boolean}
"""


def write_follow_manifest(path: Path, specs: Sequence[tuple[str, Sequence[str]]]) -> Path:
    """One session per (name, sandbox directive tags), each with a schema and a secret."""
    lines = ["version: 1", "defaults:", SCHEMA.rstrip("\n"), "sessions:"]
    for name, tags in specs:
        lines += [
            f"  - name: {name}",
            f"    prompt: Do {name}",
            f"    tags: [{', '.join(json.dumps(t) for t in ('bulk', *tags))}]",
            "    session_secrets:",
            "      - key: TOKEN",
            "        value: ${{ env.TEST_SECRET }}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path
