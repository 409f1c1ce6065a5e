"""A real headless Chromium for the report tests, driven through its own command line
(`--dump-dom`, `--screenshot`): no network, a fresh profile for every call."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import ROOT

# Screenshots and DOM dumps a person can open after the run (ignored by git); CI keeps
# them as the run's artefacts.
ARTIFACTS = Path(os.environ.get("LAUNCHER_TEST_ARTIFACTS", ROOT / "test-artifacts"))
FLAGS = (
    "--headless",
    "--no-sandbox",  # as root in a container, Chromium's own sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    # Nothing the page names may be looked up: a hostile URL in it goes nowhere.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def chromium() -> str:
    """The Chromium binary; the test is skipped where it is absent, except in CI, which
    installs it (`.ci/run`) and must not pass without it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is missing in CI: .ci/run installs Debian's chromium package")
    pytest.skip("chromium is not installed here (apt-get install chromium); CI runs this test")


class Browser:
    def __init__(self, binary: str, scratch: Path) -> None:
        self.binary = binary
        self.scratch = scratch
        self.calls = 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.calls += 1
        profile = self.scratch / f"profile-{self.calls}"  # a fresh profile every time
        return subprocess.run(
            [self.binary, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def dom(self, url: str) -> str:
        """The page's DOM after its scripts ran, serialised."""
        res = self._run("--dump-dom", url)
        assert res.returncode == 0 and res.stdout, res.stderr[-2000:]
        return res.stdout

    def screenshot(self, url: str, path: Path, size: str = "1400,1100") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        res = self._run(f"--window-size={size}", f"--screenshot={path}", url)
        assert res.returncode == 0 and path.is_file(), res.stderr[-2000:]
        return path
