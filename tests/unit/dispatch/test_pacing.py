"""Unit tests of pacing.py: rate parsing, the shared pace's adaptation, waits, breaker."""

from __future__ import annotations

import itertools
import random
import time

import anyio
import pytest
from tenacity import RetryCallState

from launcher.api.outcomes import InDoubt, RetrySafe
from launcher.dispatch.breaker import CircuitBreaker
from launcher.dispatch.pacing import Pace, RetryWait
from launcher.dispatch.settings import parse_rate
from launcher.errors import UsageError


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "per_second"), [("10", 10.0), ("2.5", 2.5), ("10/s", 10.0), ("120/m", 2.0)]
)
def test_parse_rate(text: str, per_second: float) -> None:
    assert parse_rate(text) == per_second


@pytest.mark.parametrize("text", ["", "0", "-1", "ten", "5/d", "1/m/s"])
def test_parse_rate_rejects_with_a_hint(text: str) -> None:
    with pytest.raises(UsageError, match="per minute"):
        parse_rate(text)


def test_unlimited_until_the_first_throttle() -> None:
    pace = Pace(clock=FakeClock())
    assert pace.snapshot.rate is None and pace.snapshot.mode == "unlimited"


def test_first_throttle_without_history_slow_starts_then_doubles_over_time() -> None:
    clock = FakeClock()
    pace = Pace(clock=clock)
    pace.on_success()
    pace.on_success()
    pace.on_throttle(0)
    assert pace.snapshot.mode == "slow-start"
    assert pace.snapshot.rate == 2.0  # what got in
    pace.on_throttle(1)  # the opening burst's stragglers do not collapse it
    assert pace.snapshot.mode == "slow-start" and pace.snapshot.rate == 2.0
    clock.now += 2.0
    pace.on_success()
    assert pace.snapshot.rate == pytest.approx(8.0)  # doubled twice in two seconds


def test_slow_start_overshoot_is_bounded_by_the_pace_that_overshot() -> None:
    clock = FakeClock()
    pace = Pace(clock=clock)
    pace.on_success()
    pace.on_throttle(0)
    for _ in range(40):  # four seconds of doubling from 1/s
        clock.now += 0.1
        pace.on_success()
    overshot = pace.snapshot.rate
    assert overshot is not None and overshot > 10
    pace.on_throttle(1)  # a request started after the first throttle
    assert pace.snapshot.mode == "avoidance"
    rate = pace.snapshot.rate
    assert rate is not None and 0.7 * overshot <= rate < overshot


def test_throttles_from_one_episode_lower_the_pace_once() -> None:
    clock = FakeClock()
    pace = Pace(clock=clock)
    for i in range(20):  # about 17 accepted in the last second, after a full window
        clock.now = 100 + i * 0.06
        pace.on_success()
    epoch = 0
    pace.on_throttle(epoch)
    lowered = pace.snapshot.rate
    assert pace.snapshot.mode == "avoidance"
    assert lowered is not None and 15 <= lowered <= 20
    for _ in range(5):  # the others that were in flight with it
        pace.on_throttle(epoch)
    assert pace.snapshot.rate == lowered
    assert pace.snapshot.throttles == 6


def test_avoidance_recovers_past_the_old_limit_while_accepted() -> None:
    clock = FakeClock()
    pace = Pace(clock=clock)
    for i in range(12):
        clock.now = 100 + i * 0.1
        pace.on_success()
    pace.on_throttle(0)
    low = pace.snapshot.rate
    assert low is not None
    clock.now += 2
    pace.on_success()
    mid = pace.snapshot.rate
    clock.now += 8
    pace.on_success()
    high = pace.snapshot.rate
    assert mid is not None and high is not None
    assert low < mid < high and high > 10


def test_cap_is_never_exceeded() -> None:
    clock = FakeClock()
    pace = Pace(cap=5.0, clock=clock)
    assert pace.snapshot.rate == 5.0
    for _ in range(100):
        pace.on_success()
    assert pace.snapshot.rate == 5.0
    pace.on_throttle(0)
    for _ in range(100):
        pace.on_success()
    rate = pace.snapshot.rate
    assert rate is not None and rate <= 5.0


def test_starts_are_spaced_by_at_least_one_over_rate_after_the_intent() -> None:
    starts: list[float] = []
    rate = 200.0

    async def go() -> None:
        pace = Pace(cap=rate)

        async def worker() -> None:
            for _ in range(5):
                async with pace.start():
                    await anyio.sleep(0.001)  # e.g. the ledger's fsync
                starts.append(time.monotonic())

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(worker)

    anyio.run(go)
    starts.sort()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 20
    assert min(gaps) >= 1 / rate - 1e-6


def _state(outcome: object, attempt: int = 1) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    state.set_result(outcome)
    return state


def test_wait_honours_retry_after_and_spreads_released_retries() -> None:
    wait = RetryWait(max_wait=300, rng=random.Random(1))
    waits = [wait(_state(RetrySafe("429", 429, 2.0))) for _ in range(50)]
    assert min(waits) >= 2.0
    assert max(waits) <= 2.0 * 1.25
    assert len({round(w, 3) for w in waits}) > 40  # not in lockstep


def test_spread_never_pushes_a_retry_after_past_max_wait() -> None:
    wait = RetryWait(max_wait=300, rng=random.Random(2))
    waits = [wait(_state(RetrySafe("429", 429, 280.0))) for _ in range(100)]
    assert min(waits) >= 280 and max(waits) <= 300
    # The server asking for more than --max-wait: exactly its value, so the entry fails
    # saying what the server asked.
    assert wait(_state(RetrySafe("429", 429, 400.0))) == 400.0


def test_wait_without_retry_after_is_full_jitter_exponential() -> None:
    wait = RetryWait(max_wait=300)
    first = [wait(_state(InDoubt("500", 500), attempt=1)) for _ in range(200)]
    later = [wait(_state(InDoubt("500", 500), attempt=6)) for _ in range(200)]
    assert min(first) >= 0 and max(first) <= 0.5 + 1e-9
    assert max(later) > 2 * max(first)


def test_breaker_opens_only_when_most_attempts_fail_for_a_while() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(span=10, threshold=0.8, clock=clock)
    for _ in range(30):  # a fast burst at the start of a run: a blip, not a broken API
        clock.now += 0.05
        breaker.record(True, "connection refused")
    assert not breaker.open
    for i in range(100):  # 30% failures, as in the chaos suite: never opens
        clock.now += 1
        breaker.record(i % 10 < 3, "HTTP 500")
    assert not breaker.open
    for _ in range(7):  # failing for 7 s is not yet "keeps failing"
        clock.now += 1
        breaker.record(True, "HTTP 502: bad gateway")
    assert not breaker.open
    for _ in range(3):
        clock.now += 1
        breaker.record(True, "HTTP 502: bad gateway")
    assert breaker.open and breaker.reason is not None
    assert "HTTP 502" in breaker.reason and "over 10.0s" in breaker.reason


def test_breaker_opens_at_a_high_rate_once_the_failures_last() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(span=10, threshold=0.8, clock=clock)
    for _ in range(250):  # 50 attempts a second, all failing, for 5 s
        clock.now += 0.02
        breaker.record(True, "HTTP 500")
    assert not breaker.open
    for _ in range(300):  # and 6 s more
        clock.now += 0.02
        breaker.record(True, "HTTP 500")
    assert breaker.open and breaker.reason is not None


def test_breaker_needs_most_attempts_failed_not_just_most_slices() -> None:
    """Issue 9: slow retries fill slices one attempt each. Eight lone failures and two
    busy slices of successes are 8 failed attempts of 28: not an outage."""
    clock = FakeClock()
    breaker = CircuitBreaker(span=10, threshold=0.8, clock=clock)
    for second in range(10):
        clock.now = float(second) + 0.5
        if second in (3, 7):
            for _ in range(10):
                breaker.record(False)
        else:
            breaker.record(True, "HTTP 503: try again")
    assert not breaker.open


def test_breaker_needs_a_minimum_number_of_calls() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(span=10, threshold=0.8, min_calls=12, clock=clock)
    for second in range(11):  # 11 failures over 11 s: the window sees 10, fewer than 12
        clock.now = float(second) + 0.5
        breaker.record(True, "HTTP 500")
    assert not breaker.open
    clock.now += 0.1
    breaker.record(True, "HTTP 500")
    clock.now += 0.1
    breaker.record(True, "HTTP 500")
    assert breaker.open
