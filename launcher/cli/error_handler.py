"""The one place where an exception becomes an exit code and a message (one JSON object
with `--format json`)."""

from __future__ import annotations

from collections.abc import Callable

from launcher.errors import ExitCode, LauncherError, LedgerError
from launcher.output.reporter import Reporter


def _launcher_error(exc: BaseException) -> LauncherError | None:
    """The first LauncherError in `exc` or inside its (nested) exception groups: errors
    raised in a worker arrive wrapped, and the user is owed the launcher's own message."""
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if isinstance(current, LauncherError):
            return current
        pending.extend(getattr(current, "exceptions", ()))
    return None


def run_handled(command: Callable[[], int], reporter: Reporter) -> int:
    """`command()`'s exit code, or the exit code of what it raised (a traceback only for a
    bug: an exception that is none of the launcher's own)."""
    try:
        return int(command())
    except KeyboardInterrupt:
        reporter.error("interrupted", ExitCode.INTERRUPTED)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:  # `launcher plan ... | head`
        return int(ExitCode.OK)
    except BaseException as exc:
        error = _launcher_error(exc)
        if error is None:
            raise
        kind = "ledger" if isinstance(error, LedgerError) else None
        reporter.error(str(error), error.exit_code, kind)
        return int(error.exit_code)
