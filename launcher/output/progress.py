"""What a run says while it works: a live region on a terminal (the run's line, and with
`--wait` the table of its sessions), plain lines in cron, all through the one console.

Created sessions' URLs go to stdout as they are created (text mode); everything else
goes to stderr. Off a terminal each line is stamped with the UTC time. Error texts pass
through the redactor once more (the client already scrubbed them); the console escapes
every line, since session ids, URLs and errors come from the server.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from launcher.output.board import Board
from launcher.output.console import Console
from launcher.output.formats import REPORTER_BY_NAME

if TYPE_CHECKING:
    from rich.console import RenderableType

    from launcher.dispatch.pacing import Pace
    from launcher.dispatch.results import EntryResult
    from launcher.follow.slots import SlotSnapshot

REDRAW_EVERY = 0.1  # seconds between live-region redraws
RATE_WINDOW = 5.0  # seconds over which the shown request rate is measured


class RunProgress:
    """Receives the dispatcher's events and shows them; decides nothing."""

    def __init__(
        self,
        total: int,
        fmt: str,
        mode: str,
        redact: Callable[[str], str],
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        verbosity: int = 0,
        *,
        console: Console | None = None,
        board: Board | None = None,
    ) -> None:
        live = {"always": True, "never": False}.get(mode)
        if live is None and verbosity < 0:
            live = False
        self.console = console or Console(out, err, verbosity=verbosity, live=live)
        self.out, self.err = self.console.out, self.console.err
        self.board = board  # run --wait: the sessions' table, shared with the watch
        self.total = total
        self.shows_urls = REPORTER_BY_NAME[fmt].shows_urls
        self.redact = redact
        self.verbosity = self.console.verbosity
        self.live = self.console.interactive
        self._done = self._failed = 0
        self._retrying: set[str] = set()
        self.sends: deque[float] = deque()
        self.started = time.monotonic()
        self._pace: Pace | None = None
        self._slots: Callable[[], SlotSnapshot] | None = None
        self._drawn = 0.0

    # --- events from the dispatcher --------------------------------------------------------

    def start(
        self, base_url: str, ledger: Any, rate: float | None, concurrency: int, done: int = 0
    ) -> None:
        pace = f"rate {rate:g}/s" if rate else "rate adaptive"
        already = f" ({done} already created, skipped)" if done else ""
        self.log(
            f"{self.total} entries{already}: dispatching to {base_url} "
            f"(concurrency {concurrency}, {pace}); ledger {ledger}"
        )
        self.console.show(self._view)

    def attach(self, pace: Pace) -> None:
        self._pace = pace

    def attach_slots(self, snapshot: Callable[[], SlotSnapshot]) -> None:
        """--wait/--max-active: show how many of ours work, and the learned limit."""
        self._slots = snapshot

    def created(self, result: EntryResult) -> None:
        self._settled(result)
        if self.board is not None:
            self.board.created(result.entry.entry_id, result.url)
        if self.shows_urls:
            label = "adopted" if result.outcome == "adopted" else "created"
            how = " (found by lookup)" if result.reconciled else ""
            self.console.line(
                f"{label}  {result.entry.entry_id}  {result.url or '(no url given)'}{how}"
            )
        self._redraw()

    def skipped(self, result: EntryResult) -> None:
        self._settled(result)
        if self.verbosity > 0:
            self.log(f"skip {result.entry.entry_id}: created by an earlier run")
        self._redraw()

    def retrying(self, result: EntryResult, wait: float) -> None:
        self._retrying.add(result.entry.entry_id)
        if not self.live or self.verbosity > 0:
            self.log(
                f"retry {result.entry.entry_id} in {wait:.1f}s "
                f"(attempt {result.attempts}): {self._error(result)}"
            )
        self._redraw()

    def failed(self, result: EntryResult) -> None:
        self._failed += 1
        self._settled(result)
        if self.board is not None:
            self.board.failed(result.entry.entry_id)
        self.log(f"failed {result.entry.entry_id}: {self._error(result)}", warn=True)

    def in_doubt(self, result: EntryResult) -> None:
        self._failed += 1
        self._settled(result)
        if self.board is not None:
            self.board.failed(result.entry.entry_id)
        self.log(f"in doubt {result.entry.entry_id}: {self._error(result)}", warn=True)

    def sent(self) -> None:
        now = time.monotonic()
        self.sends.append(now)
        while self.sends and self.sends[0] < now - RATE_WINDOW:
            self.sends.popleft()

    def log(self, message: str, *, warn: bool = False) -> None:
        self.console.log(message, warn=warn)

    def finish(self) -> None:
        self.console.stop()

    # --- the live line ------------------------------------------------------------------

    def _error(self, result: EntryResult) -> str:
        return self.redact(result.error or "")

    def stopped(self, result: EntryResult) -> None:
        """The entry will not be retried in this run: it no longer counts as retrying."""
        self._retrying.discard(result.entry.entry_id)

    def _settled(self, result: EntryResult) -> None:
        self._done += 1
        self._retrying.discard(result.entry.entry_id)

    def _redraw(self, force: bool = False) -> None:
        if not self.console.interactive:
            return
        self.console.show(self._view)  # once: from then on, redrawn
        now = time.monotonic()
        if not force and now - self._drawn < REDRAW_EVERY and self._done < self.total:
            return
        self._drawn = now
        self.console.refresh()

    def _line(self) -> str:
        now = time.monotonic()
        elapsed = now - self.started
        window = min(RATE_WINDOW, elapsed) or 1.0
        rate = len(self.sends) / window
        remaining = self.total - self._done
        eta = f"{remaining / rate:.0f}s" if rate > 0 and remaining else "-"
        pace = ""
        if self._pace is not None and self._pace.snapshot.rate is not None:
            pace = f" (pace {self._pace.snapshot.rate:.1f}/s)"
        line = (
            f"launcher: {self._done}/{self.total} done · {self._failed} failed · "
            f"{len(self._retrying)} retrying · {rate:.1f} req/s{pace} · ETA {eta}"
        )
        if self._slots is not None:
            slots = self._slots()
            limit = f" (limit {slots.limit})" if slots.limit is not None else ""
            line = (
                f"launcher: {self._done}/{self.total} started · {slots.working} working"
                f"{limit} · {slots.queued} waiting · {self._failed} failed"
            )
        return line

    def _view(self) -> RenderableType:
        """The live region: the run's line; with --wait, the table of its sessions."""
        from rich.console import Group
        from rich.text import Text

        width, height = self.console.size
        line = Text(self.console.escape(self._line()), no_wrap=True, overflow="ellipsis")
        if self.board is None:
            return line
        return Group(line, self.board.render(width, height - 1))
