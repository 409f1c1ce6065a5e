"""The one console: which streams, how much to say (`-q`/`-v`), whether stderr is an
interactive terminal, colour, UTC time stamps off a terminal, and the live region, all
decided once here. Every line a command shows while it works goes through `log` or
`line`, escaped by the one escaping function (`launcher.text.printable`).

The live region is rich's `Live`: a line printed while it is shown goes through rich's
console, which clears the region, prints the line and redraws the region below it, so a
frame is never glued to a log line. Off a terminal (cron, CI) lines are printed plainly,
and rich is never loaded.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

from launcher.text import printable

if TYPE_CHECKING:  # rich is loaded by a terminal's live region, never in cron or CI
    from rich.console import Console as RichConsole
    from rich.console import RenderableType
    from rich.live import Live

# Narrower than this, a table is unreadable: plain lines instead.
MIN_LIVE_WIDTH = 60


def stamp_now() -> str:
    """`2026-12-03T09:30:00.123Z`: UTC, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (ValueError, AttributeError):  # a closed or odd stream
        return False


def terminal_size(stream: IO[str]) -> tuple[int, int]:
    """(columns, lines) of the terminal `stream` writes to; (120, 40) when it has none."""
    try:
        size = os.get_terminal_size(stream.fileno())
        return size.columns, size.lines
    except (OSError, ValueError, io.UnsupportedOperation, AttributeError):
        return 120, 40


def in_colour(stream: IO[str], environ: Mapping[str, str] | None = None) -> bool:
    """Whether text for `stream` may be coloured: a terminal, not dumb, no NO_COLOR."""
    env = os.environ if environ is None else environ
    return _isatty(stream) and env.get("TERM") != "dumb" and "NO_COLOR" not in env


def rich_console(stream: IO[str], *, color: bool, width: int | None = None) -> RichConsole:
    """rich on a terminal stream, drawing only what the launcher styles: no markup, no
    highlighting, no emoji codes read from the text."""
    from rich.console import Console as RichConsole

    return RichConsole(
        file=stream,
        force_terminal=True,
        no_color=not color,
        highlight=False,
        markup=False,
        emoji=False,
        width=width,
    )


class Console:
    """Owns the two streams and everything decided about them."""

    def __init__(
        self,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        *,
        verbosity: int = 0,
        live: bool | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.verbosity = verbosity  # -1 quiet: warnings and errors only; 1+ verbose
        tty = _isatty(self.err)
        dumb = env.get("TERM") == "dumb"
        wide = terminal_size(self.err)[0] >= MIN_LIVE_WIDTH
        # A dumb or narrow terminal gets plain lines, as a log file does (but no stamps).
        # -q asks for warnings and errors only: no live region either.
        self.interactive = tty and not dumb and wide and verbosity >= 0 if live is None else live
        self.color = tty and not dumb and "NO_COLOR" not in env
        self.stamp = not tty  # in cron and CI, each line needs its time
        self.stamp_out = not _isatty(self.out)
        self._live: Live | None = None

    # --- lines -------------------------------------------------------------------------

    @staticmethod
    def escape(text: object, limit: int | None = None) -> str:
        """Text from outside, safe to show (the one escaping function)."""
        return printable(text, limit)

    def log(self, message: str, *, warn: bool = False) -> None:
        """A line about the work on stderr (`launcher: …`), left out by -q unless `warn`."""
        if self.verbosity < 0 and not warn:
            return
        self._print(self.err, "launcher: " + printable(message), self.stamp, warn)

    def detail(self, message: str) -> None:
        """A line only -v shows."""
        if self.verbosity > 0:
            self.log(message)

    def line(self, text: str) -> None:
        """A line of the command's answer on stdout (a session's change, a summary)."""
        self._print(self.out, printable(text), self.stamp_out, False)

    def _print(self, stream: IO[str], text: str, stamp: bool, warn: bool) -> None:
        if stamp:
            text = f"{stamp_now()} {text}"
        if self._live is not None and (stream is self.err or _isatty(stream)):
            # Above the live region, through rich: it clears the region first.
            from rich.text import Text

            self._live.console.print(
                Text(text, style="yellow" if warn and self.color else ""),
                soft_wrap=True,
                highlight=False,
            )
            self._live.refresh()  # the region below the line, up to date
            return
        if warn and self.color and _isatty(stream):
            text = f"\x1b[33m{text}\x1b[0m"
        print(text, file=stream, flush=True)

    # --- the live region -----------------------------------------------------------------

    @property
    def showing(self) -> bool:
        return self._live is not None

    def show(self, view: Callable[[], RenderableType]) -> None:
        """Start the live region on stderr, drawn by `view` at each `refresh`."""
        if not self.interactive or self._live is not None:
            return
        from rich.live import Live

        rich = rich_console(self.err, color=self.color)

        def sized() -> RenderableType:
            # The terminal's own size at each frame (a resize is followed), whatever
            # COLUMNS or LINES an environment carries.
            rich.size = self.size
            return view()

        self._live = Live(
            get_renderable=sized,
            console=rich,
            auto_refresh=False,  # drawn from the event loop's thread only, when asked
            redirect_stdout=False,
            redirect_stderr=False,
            vertical_overflow="crop",
        )
        self._live.start(refresh=True)

    def refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def stop(self) -> None:
        """End the live region; its last frame stays on the screen."""
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()
            self.err.flush()

    @property
    def size(self) -> tuple[int, int]:
        return terminal_size(self.err)
