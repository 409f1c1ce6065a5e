"""Exit codes, the exception types that carry them, and diagnostics as values.

Every exit code the launcher can return is decided here, in one place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    # Some entries failed or are in doubt; or the circuit breaker opened; or the ledger
    # could not be written once this run had written to it (requests may have gone out).
    FAILED = 1
    USAGE = 2  # invalid manifests, bad arguments, unusable ledger path, missing env
    AUTH = 3  # the API rejected the credentials (401/403)
    LOCKED = 4  # the ledger is held by another run
    TO_CREATE = 10  # plan --detailed-exitcode: some entry would be created (not 2: invalid)
    INTERRUPTED = 130  # SIGINT/SIGTERM; ledger flushed


class LauncherError(Exception):
    """An error the user can fix; printed as one line, never as a traceback."""

    exit_code: ExitCode = ExitCode.USAGE


class UsageError(LauncherError):
    exit_code = ExitCode.USAGE


class LedgerError(LauncherError):
    """The ledger cannot be read or written (its folder is a file, no permission...)."""

    exit_code = ExitCode.USAGE


class LedgerWriteFailed(LedgerError):
    """Writing the ledger failed (disk full, I/O error) after this run had written to it:
    requests may have been sent, so this is not the "nothing was sent" of exit 2."""

    exit_code = ExitCode.FAILED


class LedgerLocked(LauncherError):
    exit_code = ExitCode.LOCKED


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM outside the dispatch (which drains instead): exit 130."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class AuthError(LauncherError):
    """The API rejected the credentials (401/403) during follow-through."""

    exit_code = ExitCode.AUTH


class ApiUnavailable(LauncherError):
    """Follow-through got no usable answer from the API, even after its retries."""

    exit_code = ExitCode.FAILED


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in one manifest, pointed at by file, line and column (1-based)."""

    file: str
    line: int
    col: int
    where: str
    message: str

    def format(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"{self.file}:{self.line}:{self.col}: error: {where}{self.message}"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)
