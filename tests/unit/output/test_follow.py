"""The watch reporter: the live table's title counts by status on a terminal; plain lines,
escaped, elsewhere."""

from __future__ import annotations

import io

from launcher.output.follow import WatchReporter
from tests.support.followkit import target


def test_live_line_counts_and_plain_lines() -> None:
    targets = [target("working"), target("blocked"), target("finished"), target("finished")]
    err, out = io.StringIO(), io.StringIO()
    live = WatchReporter(out, err, str, live=True)
    live.tick(targets, force=True)
    title = err.getvalue().splitlines()[0]  # the live table's title: counts by status
    assert "1 blocked" in title and "finished" in title and "1 working" in title
    assert out.getvalue() == ""  # on a terminal, no line per change
    plain_out = io.StringIO()
    plain = WatchReporter(plain_out, io.StringIO(), str, live=False)
    hostile = target("finished")
    hostile.pull_request_url = "https://e/\x1b[2Jpr"
    plain.change(hostile)
    plain.tick(targets, force=True)
    assert "\x1b" not in plain_out.getvalue() and "PR https://e/\\x1b[2Jpr" in plain_out.getvalue()
