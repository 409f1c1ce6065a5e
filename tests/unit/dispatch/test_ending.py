"""The run's `Ending`: which stop stays, how each is said, and the exit code each gives;
and the one line the text reporter prints for each."""

from __future__ import annotations

import pytest

from launcher.dispatch.ending import (
    AtCapacity,
    BreakerOpen,
    CredentialsRejected,
    Ending,
    Finished,
    Interrupted,
    OverBudget,
    TimedOut,
    Unreachable,
    exit_code,
    outranks,
    reason,
)
from launcher.dispatch.results import EntryResult, RunResult
from launcher.entry import Entry
from launcher.errors import ExitCode
from launcher.ledger.state import EntryState
from launcher.output.reporter import ending_line

ALL: list[Ending] = [
    Finished(),
    Interrupted("SIGTERM"),
    CredentialsRejected("HTTP 401: bad key; the key is the value of DEVIN_API_KEY"),
    Unreachable("cannot reach http://127.0.0.1:9: refused"),
    BreakerOpen("the API keeps failing (HTTP 502)"),
    AtCapacity(5),
    OverBudget(12.5),
    TimedOut(),
]


def test_the_first_stop_stays_unless_a_wrong_address_key_or_signal_comes() -> None:
    assert outranks(BreakerOpen("x"), None)
    assert not outranks(TimedOut(), BreakerOpen("x"))
    assert not outranks(AtCapacity(None), OverBudget(1))
    assert outranks(Interrupted("SIGINT"), TimedOut())
    assert outranks(CredentialsRejected("401"), Interrupted("SIGINT"))
    assert outranks(Unreachable("refused"), CredentialsRejected("401"))
    assert not outranks(Interrupted("SIGINT"), CredentialsRejected("401"))


@pytest.mark.parametrize(
    ("ending", "code"),
    [
        (Finished(), ExitCode.FAILED),  # with an entry not done
        (Unreachable("x"), ExitCode.USAGE),
        (CredentialsRejected("x"), ExitCode.AUTH),
        (Interrupted("SIGINT"), ExitCode.INTERRUPTED),
        (BreakerOpen("x"), ExitCode.FAILED),
        (TimedOut(), ExitCode.FAILED),
    ],
)
def test_each_ending_gives_its_exit_code(ending: Ending, code: ExitCode) -> None:
    assert exit_code(ending, all_done=False) == code
    if code == ExitCode.FAILED:
        assert exit_code(ending, all_done=True) == ExitCode.OK


def test_each_ending_is_said_once_and_finished_says_nothing() -> None:
    result = RunResult(
        [EntryResult(Entry("e", "m.yaml", "m.yaml", 1, {"prompt": "p"}))], "l.jsonl", "r"
    )
    assert result.results[0].outcome is EntryState.PENDING
    lines = {}
    for ending in ALL:
        result.ending, result.capacity_limit = ending, 5
        lines[type(ending).__name__] = ending_line(result, lambda text: text)
    assert lines == {
        "Finished": None,
        "Interrupted": "launcher: stopped: interrupted by SIGTERM",
        "CredentialsRejected": "launcher: error: the API rejected the credentials (HTTP 401: "
        "bad key; the key is the value of DEVIN_API_KEY); check the API key variable and run "
        "again",
        "Unreachable": "launcher: stopped: cannot reach http://127.0.0.1:9: refused",
        "BreakerOpen": "launcher: stopped: circuit breaker open: the API keeps failing (HTTP 502)",
        "AtCapacity": "launcher: the organisation is at its concurrent-session limit of 5: 1 "
        "entry waits; run again with the same ledger once sessions end, and the run continues",
        "OverBudget": "launcher: stopped: the ACU budget of 12.5 is spent",
        "TimedOut": "launcher: stopped: --wait-timeout passed",
    }
    assert reason(AtCapacity(None)) == "the organisation is at its concurrent-session limit"
