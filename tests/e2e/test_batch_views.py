"""What a person sees of a finished batch, from one real run against the sandbox: a matrix
batch with a structured output, hostile titles and hostile output values, watched to its
end; then `results` as CSV and the batch report."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.server import running_sandbox
from tests.support.browserkit import ARTIFACTS, Browser, chromium
from tests.support.runkit import launcher_env, run_launcher

HOSTILE_TITLE = "<img src=x onerror=\"document.title='pwned'\">"
HOSTILE_OUTPUT = "<script>document.title='pwned'</script>"
HOSTILE_NOTE = '"><svg onload="document.documentElement.dataset.pwned=1">\u202e\x1b[2J'

MANIFEST = f"""\
version: 1
defaults:
  tags: ["sandbox:work=1", "sandbox:end=finished", "sandbox:output=valid", "sandbox:pr=yes"]
  structured_output_schema:
    type: object
    required: [summary, risk]
    properties:
      summary: {{const: {json.dumps(HOSTILE_OUTPUT)}}}
      note: {{const: {json.dumps(HOSTILE_NOTE)}}}
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
    assert columns[-6:] == [
        "matrix.repo",
        "matrix.python",
        "output.summary",
        "output.note",
        "output.risk",
        "output.details",
    ]
    by_name = {r["name"]: r for r in rows}
    row = by_name["upgrade-web-py3.13"]
    assert (row["matrix.repo"], row["matrix.python"]) == ("web", "3.13")
    assert (row["status"], row["output_valid"]) == ("finished", "true")
    assert row["output.summary"] == HOSTILE_OUTPUT and row["output.risk"] == "low"
    assert json.loads(row["output.details"]) == {"files": ["a.py", "b.py"]}
    assert row["output.note"] == HOSTILE_NOTE  # data, as the session wrote it
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


def _expected_counts(ledger: Path) -> Counter[str]:
    """Entries by latest recorded status, straight from the ledger's lines."""
    latest: dict[str, str] = {}
    for line in ledger.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "status":
            latest[event["entry"]] = event["status_enum"]
    return Counter(latest.values())


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("script") is None, reason="util-linux `script` is missing")
def test_results_on_a_terminal_is_a_rich_table_with_every_cell_escaped(batch: Batch) -> None:
    """On a real pseudo-terminal (`script`), 100 columns wide: the table, in colour, the
    hostile output shown escaped and clipped, nothing wider than the terminal."""
    words = ["results", str(batch.manifest), "--ledger", str(batch.ledger),
             "--fields", "entry,status,output_valid,output.note"]  # fmt: skip
    command = "stty cols 100 rows 40; " + " ".join(
        shlex.quote(w) for w in [sys.executable, "-m", "launcher", *words]
    )
    env = {k: v for k, v in launcher_env().items() if k not in ("NO_COLOR", "COLUMNS")}
    done = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        env={**env, "TERM": "xterm-256color"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    raw = done.stdout.replace("\r\n", "\n")
    assert "\x1b[32m" in raw  # finished, in green: a terminal's table
    text = re.sub(r"\x1b\[[0-9;]*m", "", raw)
    assert "\x1b" not in text and "\u202e" not in text  # the output's escapes never act
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    assert lines[0].split() == ["entry", "status", "output", "output.note"]
    stuck = next(line for line in lines if line.startswith("m.yaml#stuck"))
    assert stuck.split()[1:3] == ["blocked", "invalid"]
    assert max(map(len, lines)) <= 100 and lines[-1] == "5 entries"


@pytest.fixture(scope="module")
def report(batch: Batch) -> Path:
    out = batch.folder / "report.html"
    res = run_launcher(
        "report",
        str(batch.manifest),
        "--ledger",
        str(batch.ledger),
        "-o",
        str(out),
        env=launcher_env(),
    )
    assert res.returncode == 0, res.stderr
    assert f"report of 5 entries (4 ended well) in {out}" in res.stderr
    return out


@pytest.mark.slow
def test_report_in_a_real_browser(report: Path, batch: Batch, tmp_path: Path) -> None:
    browser = Browser(chromium(), tmp_path)
    dom = browser.dom(report.as_uri())
    # The page's own script ran (its hash is in the CSP); nothing from the data did.
    assert re.search(r'<html lang="en" data-ready="1"', dom)
    assert "<title>launcher report: 5 entries, 4 ended well</title>" in dom
    assert "pwned" not in re.search(r"<title>(.*?)</title>", dom).group(1)
    assert "data-pwned" not in dom
    # One row per entry, and the counts are the ledger's.
    rows = re.findall(r'<tr data-status="([a-z_]+)"', dom)
    assert sorted(rows) == sorted(_expected_counts(batch.ledger).elements())
    shown = {s: int(n) for s, n in re.findall(r'<b data-count="([a-z_]+)">(\d+)</b>', dom)}
    assert shown == dict(_expected_counts(batch.ledger)) == {"finished": 4, "blocked": 1}
    assert '<b id="ended-well">4</b> of <b id="total">5</b>' in dom
    # The hostile title and output are text, not elements.
    assert dom.count("&lt;img src=x onerror=\"document.title='pwned'\"&gt;") == 4
    assert "<img" not in dom and "<script>document" not in dom
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    # Five sessions on the timeline, each from created to settled.
    assert len(re.findall(r'<rect class="bar status-', dom)) == 5
    assert 'href="https://github.com/example/repo/pull/' in dom

    # Filtering and sorting run in the page, from the URL's fragment.
    view = browser.dom(report.as_uri() + "#status=blocked&sort=-entry")
    hidden = re.findall(r'<tr data-status="([a-z_]+)"( hidden="")?', view)
    assert [(s, bool(h)) for s, h in hidden] == [
        ("finished", True),
        ("finished", True),
        ("finished", True),
        ("finished", True),
        ("blocked", False),
    ]
    assert '<b id="shown">1</b>' in view
    order = re.findall(r'<span class="entry">m\.yaml#([a-z0-9.-]+)</span>', view)
    assert order == sorted(order, reverse=True)

    shot = browser.screenshot(report.as_uri(), tmp_path / "report.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "report.png")
    shutil.copy(report, ARTIFACTS / "report.html")


@pytest.mark.slow
def test_report_is_self_contained(report: Path) -> None:
    html = report.read_text()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp and "default-src 'none'" in csp.group(1) and "unsafe-inline" not in csp.group(1)
    assert not re.search(r"<(link|img|iframe|object|embed)\b|<script [^>]*src=|@import|url\(", html)
    assert len(re.findall(r"<script>", html)) == 1
    assert not re.search(r"<[a-z]+ [^>]*\bon[a-z]+=", html)  # no inline event handler


@pytest.mark.slow
def test_report_markdown_for_a_job_summary(batch: Batch) -> None:
    res = run_launcher(
        "report",
        str(batch.manifest),
        "--ledger",
        str(batch.ledger),
        "--format",
        "markdown",
        env=launcher_env(),
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "## launcher report"
    assert "**4 of 5 ended well** (4 finished · 1 blocked)" in res.stdout
    rows = [line for line in lines if line.startswith("| ") and "entry" not in line]
    assert len(rows) == 5 and all(line.count(" | ") == 6 for line in rows)
    assert "<img" not in res.stdout and "&lt;img src=x onerror=" in res.stdout
    assert "[example/repo\\#1](https://github.com/example/repo/pull/1)" in res.stdout
