"""The one console: what it decides about a stream (live, colour, stamps) and how its lines
and its live region share a terminal."""

from __future__ import annotations

import io
import re

from launcher.entry import Entry
from launcher.follow.targets import Target
from launcher.output.board import Board
from launcher.output.console import Console
from launcher.output.follow import WatchReporter

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


def entry(name: str) -> Entry:
    return Entry(name, "m.yaml", "m.yaml", 1, {"prompt": f"do {name}"}, "")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_the_live_region_colour_and_no_stamps() -> None:
    console = Console(io.StringIO(), Terminal(), environ={"TERM": "xterm"})
    assert console.interactive and console.color and not console.stamp


def test_dumb_terminals_and_files_get_plain_lines() -> None:
    dumb = Console(io.StringIO(), Terminal(), environ={"TERM": "dumb"})
    assert not dumb.interactive and not dumb.color
    log = Console(io.StringIO(), io.StringIO(), environ={"TERM": "xterm"})
    assert not log.interactive and log.stamp and log.stamp_out
    assert not Console(io.StringIO(), Terminal(), environ={"NO_COLOR": "1"}).color


def test_off_a_terminal_every_line_is_stamped_and_escaped() -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err, environ={})
    console.log("hello \x1b]0;pwned\x07")
    console.line("working  m.yaml#a")
    assert STAMP.match(err.getvalue()) and "\x1b" not in err.getvalue()
    assert err.getvalue().endswith("launcher: hello \\x1b]0;pwned\\x07\n")
    assert STAMP.sub("", out.getvalue()) == "working  m.yaml#a\n"


def test_quiet_keeps_warnings_only() -> None:
    err = io.StringIO()
    console = Console(io.StringIO(), err, verbosity=-1, environ={})
    console.log("a note")
    console.log("a warning", warn=True)
    assert "a note" not in err.getvalue() and "a warning" in err.getvalue()


def test_a_log_line_on_a_terminal_goes_above_the_live_region() -> None:
    err = Terminal()
    console = Console(io.StringIO(), err, environ={"TERM": "xterm"})
    console.show(lambda: "LIVE-REGION")
    console.log("a line")
    console.stop()
    text = err.getvalue()
    # The region is erased before the line (\r, erase line), then drawn again below it.
    before, after = text.split("launcher: a line", 1)
    assert before.endswith("\x1b[2K") and "LIVE-REGION" in after


def test_a_change_is_one_line_and_never_repeated() -> None:
    out = io.StringIO()
    reporter = WatchReporter(out, io.StringIO(), str, live=False)
    target = Target(entry("a"), session_id="s1", url="https://e/s1", status="working")
    for _ in range(3):
        reporter.change(target)  # the same state, polled again
    target.pull_request_url = "https://e/pr/1"
    reporter.change(target)
    lines = [STAMP.sub("", line) for line in out.getvalue().splitlines()]
    assert lines == [
        "working   m.yaml#a  https://e/s1",
        "working   m.yaml#a  https://e/s1  PR https://e/pr/1",
    ]


def test_the_heartbeat_says_the_counts_off_a_terminal() -> None:
    err = io.StringIO()
    reporter = WatchReporter(io.StringIO(), err, str, live=False, heartbeat=1e-9)
    reporter.change(Target(entry("a"), session_id="s1", status="working"))
    reporter.tick([])
    assert "launcher: 1 entries: 1 working; elapsed 0m00s, ETA -" in err.getvalue()


def test_the_board_shows_counts_when_the_batch_is_taller_than_the_screen() -> None:
    now = [0.0]
    board = Board([f"e{i}" for i in range(50)], clock=lambda: now[0])
    for i in range(50):
        board.created(f"e{i}", None)
        now[0] += 1
    board.update("e0", "finished", None, None, None, settled=True)
    assert board.eta() is not None
    console = io.StringIO()
    from rich.console import Console as Rich

    Rich(file=console, width=100).print(board.render(100, 20))
    text = console.getvalue()
    assert "49 created, 1 finished" in text and "latest: finished  e0" in text
    assert "longest running:" in text and "e49" not in text  # a few rows, not 50
