"""What a run says while it works: a live status line on a terminal, plain lines in cron.

Created sessions' URLs go to stdout as they are created (text mode); everything else
goes to stderr, each line stamped with the time when stderr is not a terminal. Error texts
pass through the redactor once more (the client already scrubbed them); every line passes
through `printable`, since session ids, URLs and errors come from the server.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from launcher.output.formats import REPORTER_BY_NAME
from launcher.text import printable

if TYPE_CHECKING:
    from launcher.dispatch.pacing import Pace
    from launcher.dispatch.results import EntryResult
    from launcher.follow.slots import SlotSnapshot

REDRAW_EVERY = 0.1  # seconds between live-line redraws
RATE_WINDOW = 5.0  # seconds over which the shown request rate is measured


def use_color(stream: IO[str]) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


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
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.total = total
        self.shows_urls = REPORTER_BY_NAME[fmt].shows_urls
        self.redact = redact
        tty = self.err.isatty() and os.environ.get("TERM") != "dumb"
        self.verbosity = verbosity  # -1 quiet: warnings only; 1 verbose: retries and skips too
        self.stamp = not self.err.isatty()  # in cron and CI, lines need their time
        self.live = mode == "always" or (mode == "auto" and tty and verbosity >= 0)
        self.color = use_color(self.err) and self.live
        self._done = self._failed = 0
        self._retrying: set[str] = set()
        self.sends: deque[float] = deque()
        self.started = time.monotonic()
        self._pace: Pace | None = None
        self._slots: Callable[[], SlotSnapshot] | None = None
        self._drawn = 0.0
        self._line_shown = False

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

    def attach(self, pace: Pace) -> None:
        self._pace = pace

    def attach_slots(self, snapshot: Callable[[], SlotSnapshot]) -> None:
        """--wait/--max-active: show how many of ours work, and the learned limit."""
        self._slots = snapshot

    def created(self, result: EntryResult) -> None:
        self._settled(result)
        if self.shows_urls:
            label = "adopted" if result.outcome == "adopted" else "created"
            how = " (found by lookup)" if result.reconciled else ""
            self._clear()
            line = f"{label}  {result.entry.entry_id}  {result.url or '(no url given)'}{how}"
            print(printable(line), file=self.out, flush=True)
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
        self.log(f"failed {result.entry.entry_id}: {self._error(result)}", warn=True)

    def in_doubt(self, result: EntryResult) -> None:
        self._failed += 1
        self._settled(result)
        self.log(f"in doubt {result.entry.entry_id}: {self._error(result)}", warn=True)

    def sent(self) -> None:
        now = time.monotonic()
        self.sends.append(now)
        while self.sends and self.sends[0] < now - RATE_WINDOW:
            self.sends.popleft()

    def log(self, message: str, *, warn: bool = False) -> None:
        if self.verbosity < 0 and not warn:
            return
        self._clear()
        message = printable(message)
        prefix = "launcher: "
        if self.stamp:
            now = datetime.now(UTC).isoformat(timespec="milliseconds")
            prefix = now.replace("+00:00", "Z") + " " + prefix
        if warn and self.color:
            prefix += "\x1b[33m"
            message += "\x1b[0m"
        print(prefix + message, file=self.err, flush=True)
        self._redraw(force=True)

    def finish(self) -> None:
        self._clear()

    # --- the live line ------------------------------------------------------------------

    def _error(self, result: EntryResult) -> str:
        return self.redact(result.error or "")

    def stopped(self, result: EntryResult) -> None:
        """The entry will not be retried in this run: it no longer counts as retrying."""
        self._retrying.discard(result.entry.entry_id)

    def _settled(self, result: EntryResult) -> None:
        self._done += 1
        self._retrying.discard(result.entry.entry_id)

    def _clear(self) -> None:
        if self._line_shown:
            self.err.write("\r\x1b[2K")
            self.err.flush()
            self._line_shown = False

    def _redraw(self, force: bool = False) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if not force and now - self._drawn < REDRAW_EVERY and self._done < self.total:
            return
        self._drawn = now
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
        self.err.write("\r\x1b[2K" + line[: _width(self.err) - 1])
        self.err.flush()
        self._line_shown = True


def _width(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, io.UnsupportedOperation):
        return 120
