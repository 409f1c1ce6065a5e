"""What a person sees of a finished batch, from one real run against the sandbox: a matrix
batch with a structured output, hostile titles and hostile output values, watched to its
end; then `results` as CSV and the batch report."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.server import running_sandbox
from tests.runkit import launcher_env, run_launcher

HOSTILE_TITLE = "<img src=x onerror=\"document.title='pwned'\">"
HOSTILE_OUTPUT = "<script>document.title='pwned'</script>"
MANIFEST = f"""\
version: 1
defaults:
  tags: ["sandbox:work=1", "sandbox:end=finished", "sandbox:output=valid", "sandbox:pr=yes"]
  structured_output_schema:
    type: object
    required: [summary, risk]
    properties:
      summary: {{const: {json.dumps(HOSTILE_OUTPUT)}}}
      risk: {{enum: [low]}}
      details: {{type: object, properties: {{files: {{const: ["a.py", "b.py"]}}}}}}
sessions:
  - name: upgrade-${{{{ matrix.repo }}}}-py${{{{ matrix.python }}}}
    title: {json.dumps(HOSTILE_TITLE + " ${{ matrix.repo }}")}
    prompt: Upgrade ${{{{ matrix.repo }}}} to Python ${{{{ matrix.python }}}}
    matrix:
      repo: [api, web]
      python: ["3.12", "3.13"]
  - name: stuck
    title: "=cmd|' /C calc'!A0"
    prompt: Wait for a person
    tags: ["sandbox:work=1", "sandbox:end=blocked", "sandbox:output=invalid"]
"""


@dataclass(frozen=True)
class Batch:
    manifest: Path
    ledger: Path
    folder: Path


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    folder = tmp_path_factory.mktemp("batch")
    manifest, ledger = folder / "m.yaml", folder / "ledger.jsonl"
    manifest.write_text(MANIFEST)
    config = SandboxConfig(host="127.0.0.1", port=0, api_key=None)
    with running_sandbox(replace(config)) as handle:
        run = run_launcher(
            "run",
            str(manifest),
            "--ledger",
            str(ledger),
            "--wait",
            "--poll-interval",
            "1",
            env=launcher_env(handle.base_url),
        )
    assert run.returncode == 1, run.stderr  # `stuck` blocked with an invalid output
    yield Batch(manifest, ledger, folder)


@pytest.mark.slow
def test_results_csv_has_matrix_and_output_property_columns(batch: Batch) -> None:
    res = run_launcher(
        "results",
        str(batch.manifest),
        "--ledger",
        str(batch.ledger),
        "--format",
        "csv",
        env=launcher_env(),
    )
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    columns = res.stdout.splitlines()[0].split(",")
    assert columns[-5:] == [
        "matrix.repo",
        "matrix.python",
        "output.summary",
        "output.risk",
        "output.details",
    ]
    by_name = {r["name"]: r for r in rows}
    row = by_name["upgrade-web-py3.13"]
    assert (row["matrix.repo"], row["matrix.python"]) == ("web", "3.13")
    assert (row["status"], row["output_valid"]) == ("finished", "true")
    assert row["output.summary"] == HOSTILE_OUTPUT and row["output.risk"] == "low"
    assert json.loads(row["output.details"]) == {"files": ["a.py", "b.py"]}
    assert by_name["stuck"]["matrix.repo"] == "" and by_name["stuck"]["status"] == "blocked"

    only = run_launcher(
        "results",
        str(batch.manifest),
        "--ledger",
        str(batch.ledger),
        "--format",
        "csv",
        "--status",
        "blocked",
        "--fields",
        "entry,status,output_valid",
        env=launcher_env(),
    )
    assert only.stdout == "entry,status,output_valid\nm.yaml#stuck,blocked,false\n"
