"""The one place where an exception becomes an exit code and a one-line message."""

from __future__ import annotations

import sys
from collections.abc import Callable

from launcher.errors import ExitCode, LauncherError


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


def run_handled(command: Callable[[], int]) -> int:
    """`command()`'s exit code, or the exit code of what it raised (a traceback only for a
    bug: an exception that is none of the launcher's own)."""
    try:
        return int(command())
    except KeyboardInterrupt:
        print("launcher: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:  # `launcher plan ... | head`
        return int(ExitCode.OK)
    except BaseException as exc:
        error = _launcher_error(exc)
        if error is None:
            raise
        print(f"launcher: error: {error}", file=sys.stderr)
        return int(error.exit_code)
