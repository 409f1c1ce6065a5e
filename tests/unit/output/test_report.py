"""The batch report's values and rendering: links only to http(s), every string escaped in
HTML and inert in Markdown, the CSP hashes matching the page's own script and style, the
timeline bounded."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.cli import main
from launcher.cli.followup import DEFAULT_REPORT
from launcher.entry import Entry
from launcher.follow.report import BatchReport, ReportRow, build_report, parse_ts, web_link
from launcher.follow.targets import build_targets
from launcher.ledger.read import read_state
from launcher.ledger.writer import LedgerWriter
from launcher.output.report import (
    TIMELINE_ROWS,
    csp_hash,
    md_text,
    render_html,
    render_markdown,
    timeline_of,
)

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
EVIL = "<img src=x onerror=alert(1)>"


def row(name: str = "a", **changes: Any) -> ReportRow:
    values: dict[str, Any] = {
        "entry": f"m.yaml#{name}",
        "name": name,
        "title": EVIL,
        "status": "finished",
        "ended_well": True,
        "reason": None,
        "session_id": "s1",
        "session_url": "https://app.devin.ai/sessions/s1",
        "session_link": "https://app.devin.ai/sessions/s1",
        "pr_url": "https://github.com/o/r/pull/7",
        "pr_link": "https://github.com/o/r/pull/7",
        "output_valid": True,
        "output": {"summary": "</pre><script>alert(2)</script>", "n": 1},
        "output_errors": [],
        "acus": 1.5,
        "error": None,
        "matrix": {},
        "created_at": T0,
        "settled_at": T0 + timedelta(seconds=90),
    }
    values.update(changes)
    return ReportRow(**values)


def report(*rows: ReportRow) -> BatchReport:
    return BatchReport(list(rows), ["l.jsonl"], T0 + timedelta(minutes=5))


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://github.com/o/r/pull/1", True),
        ("http://127.0.0.1:8080/sessions/x", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("https://e/a b", False),
        ("//evil.example/x", False),
        ("https:///nohost", False),
        (None, False),
    ],
)
def test_only_http_urls_are_links(url: str | None, linked: bool) -> None:
    assert (web_link(url) is not None) is linked


def test_every_string_is_escaped_in_html() -> None:
    bad = row(
        "b",
        status="<b>x</b>",
        pr_url="javascript:alert(3)",
        pr_link=None,
        error='"><svg onload=alert(4)>',
        output_errors=[{"path": "$", "message": "<i>m</i>"}],
    )
    html = render_html(report(row(), bad), "1.0")
    body = html.split("<body>", 1)[1].split("<script>", 1)[0]
    assert "<img" not in body and "<svg onload" not in body and "<i>" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in body
    assert 'href="javascript:' not in html and "javascript:alert(3)" in body  # shown as text
    assert 'class="status-other"' in body  # an odd status makes no class of its own
    matrix = render_html(report(row(matrix={"repo": "<u>api</u>", "py": 3.12})), "1.0")
    assert "py=3.12 · repo=&lt;u&gt;api&lt;/u&gt;" in matrix
    assert not re.search(r"<[a-z]+ [^>]*\bon[a-z]+=", html)


def test_csp_allows_exactly_the_page_own_script_and_style() -> None:
    html = render_html(report(row()), "1.0")
    script = html.split("<script>", 1)[1].split("</script>", 1)[0]
    style = html.split("<style>", 1)[1].split("</style>", 1)[0]
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    assert f"script-src '{csp_hash(script)}'" in csp.group(1)
    assert f"style-src '{csp_hash(style)}'" in csp.group(1)
    assert "default-src 'none'" in csp.group(1) and "unsafe" not in csp.group(1)


def test_counts_and_totals() -> None:
    rows = [row("a"), row("b", status="blocked", ended_well=False, acus=None), row("c")]
    html = render_html(report(*rows), "1.0")
    assert '<b data-count="finished">2</b>' in html and '<b data-count="blocked">1</b>' in html
    assert '<b id="ended-well">2</b> of <b id="total">3</b>' in html
    assert '<b id="acus">3</b> ACUs' in html


def test_timeline_bars_run_from_created_to_settled_and_are_bounded() -> None:
    done = row("done")
    running = row("running", status="working", settled_at=None)
    never = row("never", status="not_created", created_at=None, settled_at=None)
    line = timeline_of(report(done, running, never))
    assert [b.label for b in line.bars] == ["done", "running"]
    assert line.bars[1].open and not line.bars[0].open
    assert line.bars[1].width > line.bars[0].width  # still working at the report's time
    many = [row(f"r{i}", created_at=T0 + timedelta(seconds=i)) for i in range(TIMELINE_ROWS + 5)]
    assert len(timeline_of(report(*many)).bars) == TIMELINE_ROWS


def test_markdown_is_inert() -> None:
    bad = row("b", title="@team | <img src=x> [x](javascript:alert(1)) `code`", pr_link=None)
    text = render_markdown(report(row(), bad))
    assert "<img" not in text and "@team" not in text and "](javascript" not in text
    table = [line for line in text.splitlines() if line.startswith("| ") and "m\\.yaml" in line]
    assert len(table) == 2 and all(line.count(" | ") == 6 for line in table)
    assert "[o/r\\#7](https://github.com/o/r/pull/7)" in text
    assert md_text("a\nb|c") == "a b\\|c"


def test_ledger_timestamps_parse() -> None:
    assert parse_ts("2026-12-03T08:00:00.000Z") == T0
    assert parse_ts("yesterday") is None and parse_ts(None) is None
    assert parse_ts("2026-12-03T08:00:00") is None  # no zone: not a ledger time


def test_entry_keeps_its_matrix_out_of_its_key() -> None:
    a = Entry("n", "m.yaml", "m.yaml", 1, {"prompt": "p"}, matrix={"x": 1})
    b = Entry("n", "m.yaml", "m.yaml", 1, {"prompt": "p"})
    assert a.key == b.key and a.matrix == {"x": 1}


def test_html_goes_to_a_file_on_a_terminal_and_to_stdout_in_a_pipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text("version: 1\nsessions:\n  - name: a\n    prompt: p\n")
    (tmp_path / "l.jsonl").write_text("")
    argv = ["report", "m.yaml", "--ledger", "l.jsonl"]
    assert main(argv) == 0
    piped = capsys.readouterr()
    assert piped.out.startswith("<!doctype html>") and not (tmp_path / DEFAULT_REPORT).exists()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(argv) == 0
    shown = capsys.readouterr()
    assert shown.out == "" and "report of 1 entries (0 ended well) in launcher-report.html" in (
        shown.err
    )
    page = (tmp_path / DEFAULT_REPORT).read_text()
    assert '<tr data-status="not_created">' in page and "never sent" in page
    assert main([*argv, "--format", "markdown"]) == 0  # Markdown is text: stdout still
    assert capsys.readouterr().out.startswith("## launcher report")
    assert main([*argv, "-o", str(tmp_path / "no" / "such" / "dir.html")]) == 2
    assert "cannot write the report to" in capsys.readouterr().err


async def _write(path: Path, events: list[tuple[str, Entry, dict[str, Any]]]) -> None:
    with LedgerWriter.open(path, "run1") as writer:
        for event, e, fields in events:
            await writer.append(event, e, **fields)


def test_rows_come_from_the_ledger_created_settled_and_acus(tmp_path: Path) -> None:
    done = Entry("done", "m.yaml", "m.yaml", 1, {"prompt": "p", "title": EVIL}, matrix={"x": 1})
    never = Entry("never", "m.yaml", "m.yaml", 2, {"prompt": "q"})
    ledger = tmp_path / "l.jsonl"
    status = {"session_id": "s1", "status_enum": "finished", "acus_consumed": 2.5}
    anyio.run(
        _write,
        ledger,
        [
            ("sending", done, {}),
            ("created", done, {"session_id": "s1", "url": "javascript:alert(1)"}),
            ("status", done, {**status, "pull_request_url": "https://github.com/o/r/pull/2"}),
        ],
    )
    state = read_state(ledger)
    built = build_report(build_targets([done, never], state), state, [str(ledger)], T0)
    first, second = built.rows
    assert (first.status, first.acus, first.title, first.matrix) == (
        "finished",
        2.5,
        EVIL,
        {"x": 1},
    )
    assert first.created_at is not None and first.settled_at is not None
    assert first.settled_at >= first.created_at and first.duration is not None
    assert first.session_link is None and first.pr_link == "https://github.com/o/r/pull/2"
    assert (second.status, second.created_at, second.acus) == ("not_created", None, None)
    assert second.error and "never sent" in second.error
    assert built.counts == {"finished": 1, "not_created": 1} and built.acus == 2.5


def test_the_json_answer_has_the_counts_and_one_row_per_entry() -> None:
    from launcher.output.answers import report_answer

    working = row("b", status="working", ended_well=False, settled_at=None, acus=None)
    batch = BatchReport([row("a"), working], ["l.jsonl"], T0 + timedelta(minutes=5))
    body = report_answer(batch).body
    assert (body["count"], body["counts"], body["ended_well"]) == (
        2,
        {"finished": 1, "working": 1},
        1,
    )
    assert body["acus_consumed"] == 1.5
    assert body["span"] == {"from": "2026-12-03T08:00:00Z", "to": "2026-12-03T08:05:00Z"}
    first, second = body["entries"]
    assert first["title"] == EVIL  # data, not markup: a JSON reader escapes for its own page
    assert (first["created_at"], first["settled_at"]) == (
        "2026-12-03T08:00:00Z",
        "2026-12-03T08:01:30Z",
    )
    assert (first["duration_seconds"], second["duration_seconds"]) == (90.0, None)
    assert first["pull_request_url"] == "https://github.com/o/r/pull/7"
