"""The one place where an exception becomes an exit code and a message (one JSON object
with `--format json`), and where SIGTERM is made to stop the launcher as Ctrl-C does
(exit 130, a message), not kill it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

from launcher.errors import ExitCode, Interrupted, LauncherError, LedgerError
from launcher.output.reporter import Reporter

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
E = TypeVar("E", bound=BaseException)


def _first(exc: BaseException, kind: type[E]) -> E | None:
    """The first `kind` in `exc` or inside its (nested) exception groups: errors raised in
    a worker arrive wrapped, and the user is owed the launcher's own message."""
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if isinstance(current, kind):
            return current
        pending.extend(getattr(current, "exceptions", ()))
    return None


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM raise Interrupted while a command runs. The dispatch replaces
    them with its own draining handlers and puts these back when it is done; without
    them, SIGTERM before or after it (reading a big ledger, say) would kill the process
    silently with 143. Only the main thread may set handlers (tests call `main` too)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # An ignored signal stays ignored (`cmd &` in a script ignores SIGINT, as Python does).
    ours = [s for s in _SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]
    previous = {s: signal.signal(s, _interrupt) for s in ours}
    try:
        yield
    finally:
        for s, handler in previous.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(s, handler)


def run_handled(command: Callable[[], int], reporter: Reporter) -> int:
    """`command()`'s exit code, or the exit code of what it raised (a traceback only for a
    bug: an exception that is none of the launcher's own)."""
    try:
        with _signals_interrupt():
            return int(command())
    except BrokenPipeError:  # `launcher plan ... | head`
        return int(ExitCode.OK)
    except BaseException as exc:
        interrupt = _first(exc, KeyboardInterrupt)
        if interrupt is not None:
            # A bare KeyboardInterrupt is Python's own SIGINT handler (Ctrl-C).
            signum = interrupt.signum if isinstance(interrupt, Interrupted) else signal.SIGINT
            reporter.interrupted(f"interrupted by {signal.Signals(signum).name}")
            return int(ExitCode.INTERRUPTED)
        error = _first(exc, LauncherError)
        if error is None:
            raise
        kind = "ledger" if isinstance(error, LedgerError) else None
        reporter.error(str(error), error.exit_code, kind)
        return int(error.exit_code)
