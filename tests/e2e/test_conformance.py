"""Schemathesis against the real sandbox on 127.0.0.1: the v1 and v3 documents of schemas/
drive generated requests (valid and invalid), and every conformance check holds: no
server error, every status documented, JSON where JSON is documented, bodies and headers
inside their schemas, invalid data refused, `Allow` on 405, auth not ignored, and the
stateful links (create, then get, message, terminate the session it made).

Bounded: a few examples per operation, deterministic data, one worker (about 5 s of CPU
for each document). `positive_data_acceptance` is left out: the documents themselves
answer 422 to valid data when the session's state refuses it (DELETE of a session that has
already exited, a message to a terminated one) and to an `after` cursor the server never
gave.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.api.openapi import schemas_dir
from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.handle import SandboxHandle
from launcher.sandbox.server import running_sandbox

KEY = "apk_conformance_KEY_42"
EXAMPLES = 10

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served() -> Iterator[SandboxHandle]:
    config = SandboxConfig(host="127.0.0.1", port=0, api_key=KEY, work_seconds=1.0, seed=7)
    with running_sandbox(config) as handle:
        yield handle


def schemathesis(
    document: str, url: str, token: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        str(schemas_dir() / document),
        f"--url={url}",
        f"--header=Authorization: Bearer {token}",
        "--checks=all",
        "--exclude-checks=positive_data_acceptance",
        f"--max-examples={EXAMPLES}",
        "--generation-deterministic",
        "--workers=1",
        "--no-color",
    ]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize(
    ("document", "token"),
    [("devin-v1.openapi.yaml", KEY), ("devin-v3.openapi.yaml", f"cog_{KEY}")],
)
def test_the_sandbox_conforms_to_the_document(
    served: SandboxHandle, document: str, token: str, tmp_path: Path
) -> None:
    run = schemathesis(document, served.base_url, token, tmp_path)
    summary = run.stdout[run.stdout.find("SUMMARY") :]
    assert run.returncode == 0, run.stdout[-6000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert counts is not None, summary
    generated, passed = map(int, counts.groups())
    assert generated == passed and generated > 200, summary  # not a run of nothing
    assert "failed" not in summary and KEY not in run.stdout
