"""What a run shows: a live line only on a terminal, plain lines in cron, NO_COLOR, redaction."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from launcher.api.client import Redactor
from launcher.dispatch.results import EntryResult
from launcher.entry import Entry
from launcher.output.progress import RunProgress

SECRET = "s3cr3t-in-an-error"
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _result(name: str, outcome: str = "created") -> EntryResult:
    entry = Entry(name=name, file="m.yaml", path="m.yaml", line=1, request={"prompt": "p"})
    return EntryResult(
        entry,
        outcome=outcome,
        session_id="devin-1",
        url="https://x/devin-1",
        error=f"HTTP 500: boom {SECRET}",
        attempts=1,
    )


def _events(progress: RunProgress) -> None:
    progress.start("https://api", Path("l.jsonl"), None, 8, done=1)
    progress.sent()
    progress.retrying(_result("a"), 1.5)
    progress.created(_result("a"))
    progress.skipped(_result("b", "skipped"))
    progress.failed(_result("c", "failed"))
    progress.in_doubt(_result("d", "in_doubt"))


def test_cron_gets_plain_lines_and_no_animation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    out, err = io.StringIO(), io.StringIO()
    _events(RunProgress(4, "text", "auto", Redactor([SECRET]), out=out, err=err))
    # Every line is stamped off a terminal, the created URLs on stdout too (a cron log).
    (created,) = out.getvalue().splitlines()
    assert STAMP.match(created) and STAMP.sub("", created) == "created  m.yaml#a  https://x/devin-1"
    stamped = err.getvalue().splitlines()
    assert all(STAMP.match(line) for line in stamped)  # not a terminal: each line has its time
    lines = [STAMP.sub("", line, count=1) for line in stamped]
    assert lines[0].startswith("launcher: 4 entries (1 already created, skipped): dispatching")
    assert any(line.startswith("launcher: retry m.yaml#a in 1.5s (attempt 1)") for line in lines)
    assert "launcher: failed m.yaml#c: HTTP 500: boom ***" in lines
    assert "launcher: in doubt m.yaml#d: HTTP 500: boom ***" in lines
    assert "\r" not in err.getvalue() and "\x1b" not in err.getvalue()
    assert SECRET not in err.getvalue() + out.getvalue()


def test_terminal_gets_a_live_line_that_is_cleared_for_log_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    out, err = io.StringIO(), Terminal()
    progress = RunProgress(4, "text", "auto", Redactor([SECRET]), out=out, err=err)
    _events(progress)
    text = err.getvalue()
    assert "\r\x1b[2K" in text  # redrawn in place
    assert "done · " in text and "retrying" in text and "ETA" in text
    assert "retry m.yaml#a" not in text  # retries are counted on the live line, not logged
    assert "\x1b[33m" in text  # warnings in colour on a terminal
    assert SECRET not in text


def test_no_color_keeps_the_live_line_but_drops_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm")
    err = Terminal()
    _events(RunProgress(4, "text", "auto", Redactor([]), out=io.StringIO(), err=err))
    assert "\r\x1b[2K" in err.getvalue()
    assert "\x1b[33m" not in err.getvalue()


def test_json_mode_keeps_stdout_for_the_document(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = io.StringIO(), io.StringIO()
    _events(RunProgress(4, "json", "never", Redactor([]), out=out, err=err))
    assert out.getvalue() == ""
    assert "failed m.yaml#c" in err.getvalue()


def test_the_live_line_shows_our_sessions_and_the_learned_limit() -> None:
    from launcher.follow.slots import SlotSnapshot

    out, err = io.StringIO(), Terminal()
    progress = RunProgress(9, "text", "always", Redactor([]), out=out, err=err)
    snapshot = SlotSnapshot(None, None, 1, 1, 0, 8, 0, None)
    progress.attach_slots(lambda: snapshot)
    progress.created(_result("a"))
    assert "1/9 started · 1 working · 8 waiting · 0 failed" in err.getvalue()
    assert "limit" not in err.getvalue()  # not learned yet
    snapshot = SlotSnapshot(3, 3, 3, 3, 0, 5, 2, None)
    progress.created(_result("b"))
    progress.log("the organisation's concurrent-session limit is 3")
    assert "2/9 started · 3 working (limit 3) · 5 waiting · 0 failed" in err.getvalue()
