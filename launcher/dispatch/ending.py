"""Why a run stopped starting entries: one value, set once (the first stop wins, except
that a wrong address or key, which explains every other failure, and then the user's own
signal outrank it), and turned into words and an exit code by a `match` each."""

from __future__ import annotations

from dataclasses import dataclass

from launcher.errors import ExitCode


@dataclass(frozen=True)
class Finished:
    """Nothing stopped it: every entry was settled (some may have failed)."""


@dataclass(frozen=True)
class Interrupted:
    """SIGINT or SIGTERM: nothing new started; a second one cut the requests in flight."""

    signal: str


@dataclass(frozen=True)
class CredentialsRejected:
    """The API answered 401/403: no request could succeed."""

    error: str  # what the API said, and which variable holds the key


@dataclass(frozen=True)
class Unreachable:
    """The first request could not connect, or reached no sessions API: nothing was sent
    anywhere it could take effect."""

    error: str


@dataclass(frozen=True)
class BreakerOpen:
    """The API kept failing: the circuit breaker stopped new attempts."""

    reason: str


@dataclass(frozen=True)
class AtCapacity:
    """A create was refused at the organisation's concurrent-session limit."""

    limit: int | None


@dataclass(frozen=True)
class OverBudget:
    """`run --max-acus`: the batch's ACU budget is spent."""

    total: float


@dataclass(frozen=True)
class TimedOut:
    """`run --wait --wait-timeout`: the time given passed."""


Ending = (
    Finished
    | Interrupted
    | CredentialsRejected
    | Unreachable
    | BreakerOpen
    | AtCapacity
    | OverBudget
    | TimedOut
)


def outranks(new: Ending, old: Ending | None) -> bool:
    """Whether `new` replaces the ending already set: the first one stays, unless `new`
    is a wrong address or key (it explains every failure that came before it), or the
    user's signal (the run exits 130 as they asked)."""
    if old is None:
        return True
    rank = {Unreachable: 3, CredentialsRejected: 2, Interrupted: 1}
    return rank.get(type(new), 0) > rank.get(type(old), 0)


def reason(ending: Ending) -> str:
    """The ending in a few words, as an entry that was not retried gives it."""
    match ending:
        case Finished():
            return "finished"
        case Interrupted(signal=name):
            return f"interrupted by {name}"
        case CredentialsRejected():
            return "the API rejected the credentials"
        case Unreachable(error=error):
            return error
        case BreakerOpen(reason=why):
            return f"circuit breaker open: {why}"
        case AtCapacity(limit=limit):
            of = f" of {limit}" if limit else ""
            return f"the organisation is at its concurrent-session limit{of}"
        case OverBudget(total=total):
            return f"the ACU budget of {total:g} is spent"
        case TimedOut():
            return "--wait-timeout passed"


def exit_code(ending: Ending, all_done: bool) -> ExitCode:
    """The run's exit code: what stopped it, else whether every entry has its session."""
    match ending:
        case Unreachable():
            return ExitCode.USAGE
        case CredentialsRejected():
            return ExitCode.AUTH
        case Interrupted():
            return ExitCode.INTERRUPTED
        case _:
            return ExitCode.OK if all_done else ExitCode.FAILED
