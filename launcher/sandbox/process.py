"""The sandbox as a child process (`python -m launcher sandbox --port 0 ...`).

For tests where the launcher itself is killed: the sandbox must outlive it, so it
cannot share its process. The child's stdout and stderr are kept, so that tests can
also check what the sandbox printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from launcher.sandbox.config import SandboxConfig, to_args
from launcher.sandbox.handle import SandboxHandle
from launcher.sandbox.server import LISTENING, STARTUP_TIMEOUT, STOP_TIMEOUT

_LISTENING_LINE = re.compile(re.escape(LISTENING) + r" (http://\S+)")


class _Output:
    """Lines read from the child's pipes (one reader thread each), kept in order."""

    def __init__(self, streams: list[IO[str]]) -> None:
        self._lines: list[str] = []
        self._open = len(streams)
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(s,), daemon=True) for s in streams
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[str]) -> None:
        # Always drained: a child blocked on a full pipe would stop answering.
        for line in stream:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._open -= 1
            self._changed.notify_all()

    def text(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str] | None:
        """The first line matching `pattern`; None on timeout or once both pipes closed."""
        found: list[re.Match[str]] = []

        def ready() -> bool:
            found[:] = [m for line in self._lines if (m := pattern.search(line))][:1]
            return bool(found) or self._open == 0

        with self._changed:
            self._changed.wait_for(ready, timeout)
        return found[0] if found else None

    def join(self, timeout: float) -> None:
        for reader in self._readers:
            reader.join(timeout)


class SandboxProcess(SandboxHandle):
    """A sandbox in a child process; `output()` is everything it printed so far."""

    def __init__(
        self, base_url: str, api_key: str | None, process: subprocess.Popen[str], output: _Output
    ) -> None:
        super().__init__(base_url, api_key)
        self.process = process
        self._output = output

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        """The child's stdout and stderr so far, interleaved line by line."""
        return self._output.text()


def command(config: SandboxConfig) -> list[str]:
    """The argv that starts a sandbox with `config`."""
    return [sys.executable, "-m", "launcher", "sandbox", *to_args(config)]


@contextmanager
def start_sandbox_process(
    config: SandboxConfig | None = None, *, startup_timeout: float = STARTUP_TIMEOUT
) -> Iterator[SandboxProcess]:
    """Start the sandbox in a child process; stop it (SIGTERM, then SIGKILL) on exit.

    Port 0 (the default here) picks a free port; the handle's `base_url` is the one
    the child printed in its `sandbox listening on URL` line.
    """
    config = config if config is not None else SandboxConfig(port=0)
    process = subprocess.Popen(
        command(config),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None and process.stderr is not None
    output = _Output([process.stdout, process.stderr])
    handle: SandboxProcess | None = None
    try:
        match = output.wait_for(_LISTENING_LINE, startup_timeout)
        if match is None:
            raise RuntimeError(
                f"the sandbox process did not start (exit {process.poll()}):\n{output.text()}"
            )
        handle = SandboxProcess(match.group(1), config.api_key, process, output)
        yield handle
    finally:
        if handle is not None:
            handle.close()
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.join(STOP_TIMEOUT)
        process.stdout.close()
        process.stderr.close()
