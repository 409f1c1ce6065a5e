"""The batch as a person follows it: one row per entry (status, age, PR, output), what
changed and when, counts, elapsed time and an ETA; drawn as one table in the console's
live region, or, off a terminal, told as one line per change, never a repeat."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from launcher.text import printable

if TYPE_CHECKING:  # rich is loaded when a frame is drawn (a terminal's live region)
    from rich.console import RenderableType
    from rich.table import Table

LATEST = 5  # changes shown when the batch is taller than the screen
LONGEST = 5  # longest-running sessions shown then
STYLE = {"finished": "green", "blocked": "yellow", "expired": "red", "failed": "red"}


@dataclass
class Row:
    entry: str
    status: str = "queued"  # not created yet
    url: str = ""
    pr: str = ""
    valid: bool | None = None
    created: float | None = None  # when this run created it, or first saw it
    settled: float | None = None


def _age(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Board:
    """What the live table and the change lines are made of; decides nothing."""

    def __init__(
        self, entries: Sequence[str] = (), clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock = clock
        self.started = clock()
        self.rows: dict[str, Row] = {e: Row(e) for e in entries}  # run --wait: all queued
        self._shown: dict[str, tuple[str, str, bool | None]] = {}
        self.latest: list[tuple[float, str]] = []

    def expect(self, entry: str) -> None:
        """An entry of the batch, not created yet (`run --wait`)."""
        self.rows.setdefault(entry, Row(entry))

    def created(self, entry: str, url: str | None) -> None:
        row = self.rows.setdefault(entry, Row(entry))
        row.status, row.url, row.created = "created", url or "", self.clock()

    def failed(self, entry: str) -> None:
        row = self.rows.setdefault(entry, Row(entry))
        row.status, row.settled = "not created", self.clock()

    def update(
        self,
        entry: str,
        status: str,
        url: str | None,
        pr: str | None,
        valid: bool | None,
        settled: bool,
    ) -> str | None:
        """A session's latest state; the line telling what changed, or None when nothing
        a person sees did (the same status, PR and output validity: no repeat)."""
        now = self.clock()
        row = self.rows.setdefault(entry, Row(entry))
        if row.created is None:
            row.created = now
        row.status, row.url, row.pr, row.valid = status, url or row.url, pr or "", valid
        if settled and row.settled is None:
            row.settled = now
        shown = (status, row.pr, valid)
        if self._shown.get(entry) == shown:
            return None
        self._shown[entry] = shown
        pr_text = f"  PR {row.pr}" if row.pr else ""
        bad = "  output does not conform" if valid is False else ""
        line = f"{status:<9} {entry}  {row.url}{pr_text}{bad}"
        self.latest = [*self.latest[-(LATEST - 1) :], (now, f"{status:<9} {entry}")]
        return line

    # --- figures -----------------------------------------------------------------------

    def counts(self) -> Counter[str]:
        return Counter(r.status for r in self.rows.values())

    def eta(self) -> float | None:
        """Seconds until every entry settles, from what was seen: the mean time a session
        took from created to settled, and the rate at which sessions were created. None
        until one has settled."""
        now = self.clock()
        done = [
            r.settled - r.created
            for r in self.rows.values()
            if r.settled is not None and r.created is not None
        ]
        if not done:
            return None
        mean = sum(done) / len(done)
        created = [r.created for r in self.rows.values() if r.created is not None]
        waiting = [r for r in self.rows.values() if r.created is None]
        left = [
            max(0.0, mean - (now - r.created))
            for r in self.rows.values()
            if r.created is not None and r.settled is None
        ]
        if waiting:
            rate = len(created) / max(now - self.started, 1e-3)
            left.append(len(waiting) / rate + mean if rate else mean)
        return max(left, default=0.0)

    def heartbeat(self) -> str:
        counts = ", ".join(f"{n} {printable(s, 20)}" for s, n in sorted(self.counts().items()))
        return f"{len(self.rows)} entries: {counts}; {self._times()}"

    def _times(self) -> str:
        eta = self.eta()
        left = "ETA -" if eta is None else f"ETA {_age(eta)}"
        return f"elapsed {_age(self.clock() - self.started)}, {left}"

    # --- the table ---------------------------------------------------------------------

    def render(self, width: int, height: int, header: str = "") -> RenderableType:
        """A row per entry when they fit on the screen; else counts, the latest changes
        and the longest-running sessions."""
        from rich.console import Group
        from rich.text import Text

        now = self.clock()
        shown = ", ".join(f"{n} {s}" for s, n in sorted(self.counts().items()))
        title = Text(printable(f"{header}{shown} · {self._times()}"), style="bold")
        rows = list(self.rows.values())
        if len(rows) + 5 <= height:
            table = self._table(width)
            for r in rows:
                self._add(table, r, now)
            return Group(title, table)
        latest = Text("latest: " + "; ".join(printable(t) for _, t in reversed(self.latest)))
        running = sorted(
            (r for r in rows if r.created is not None and r.settled is None),
            key=lambda r: r.created or now,
        )[:LONGEST]
        table = self._table(width)
        for r in running:
            self._add(table, r, now)
        return Group(title, latest, Text("longest running:"), table)

    @staticmethod
    def _table(width: int) -> Table:
        from rich.table import Table

        table = Table(box=None, pad_edge=False, expand=False, width=min(width, 160))
        table.add_column("entry", no_wrap=True, overflow="ellipsis", ratio=3)
        table.add_column("status", no_wrap=True, min_width=9)
        table.add_column("age", no_wrap=True, justify="right", min_width=6)
        table.add_column("PR", no_wrap=True, overflow="ellipsis", ratio=2)
        table.add_column("output", no_wrap=True, min_width=7)
        return table

    @staticmethod
    def _add(table: Table, r: Row, now: float) -> None:
        age = "" if r.created is None else _age((r.settled or now) - r.created)
        from rich.text import Text

        output = {True: "valid", False: "invalid"}.get(r.valid, "")  # type: ignore[arg-type]
        table.add_row(
            printable(r.entry),
            Text(printable(r.status, 20), style=STYLE.get(r.status, "")),
            age,
            printable(r.pr),
            output,
        )
