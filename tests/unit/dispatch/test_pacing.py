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


def test_the_opening_window_widens_by_one_request_per_answer() -> None:
    """Before the first throttle, unanswered requests are capped by a window that starts
    at one and widens by one with each success (x2 a round trip), so that a low limit meets
    one or two requests, not a whole burst of concurrency."""
    started: list[int] = []

    async def go() -> None:
        pace = Pace()

        async def send(i: int) -> None:
            async with pace.start():
                pass
            started.append(i)

        async with anyio.create_task_group() as tg:
            for i in range(4):
                tg.start_soon(send, i)
            await anyio.sleep(0.05)
            assert started == [0]  # one in flight: the others wait for its answer
            pace.on_success()
            pace.landed()
            await anyio.sleep(0.05)
            assert len(started) == 3  # window 2, none unanswered: two more
            pace.on_success()
            pace.landed()
            await anyio.sleep(0.05)
            assert len(started) == 4  # window 3, one unanswered: the last one
            for _ in range(3):
                pace.landed()

    anyio.run(go)


def test_first_throttle_ramps_from_what_got_in_then_doubles_over_time() -> None:
    clock = FakeClock()
    pace = Pace(clock=clock)
    pace.on_success()
    pace.on_success()
    pace.on_throttle(0)
    assert pace.snapshot.mode == "ramp"
    assert pace.snapshot.rate == 6.0  # RAMP_FROM x what got in over the last second
    pace.on_throttle(0)  # the opening burst's stragglers are the same dry moment
    assert pace.snapshot.mode == "ramp" and pace.snapshot.rate == 6.0
    clock.now += 1.0
    pace.on_success()
    assert pace.snapshot.rate == pytest.approx(24.0)  # doubled twice in one second


def test_throttles_from_one_episode_count_but_lower_the_pace_once() -> None:
    clock = FakeClock()
    pace = Pace(clock=clock)
    pace.on_success()
    pace.on_throttle(0)
    clock.now += 1.0
    pace.on_success()
    pace.on_throttle(1)  # the ramp meets the limit: learned
    learned = pace.snapshot.rate
    for _ in range(5):
        pace.on_throttle(1)  # in flight together: the same dry moment
    assert pace.snapshot.mode == "learned" and pace.snapshot.rate == learned
    assert pace.snapshot.throttles == 7


class Bucket:
    """The sandbox's token bucket, on the test's clock."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, float(burst), now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def _drive(pace: Pace, clock: FakeClock, bucket: Bucket, seconds: float) -> tuple[int, int]:
    """Send as fast as the pace lets one sender (answers are instant); (accepted, 429s)."""
    accepted = throttled = 0
    end = clock.now + seconds
    epoch = 0
    while clock.now < end:
        if bucket.take(clock.now):
            accepted += 1
            pace.on_success()
        else:
            throttled += 1
            pace.on_throttle(epoch)
            epoch += 1
        rate = pace.snapshot.rate
        clock.now += 1.0 / rate if rate else 0.001
    return accepted, throttled


@pytest.mark.parametrize(
    ("limit", "burst", "used"),
    [
        (10.0, 2, 0.97),
        (30.0, 5, 0.99),
        (100.0, 20, 0.99),
        (10.0, 10, 0.99),
        (3.0, 1, 0.85),
        (2.0, 4, 0.99),
    ],
)
def test_the_pace_learns_a_token_buckets_rate_and_uses_it(
    limit: float, burst: int, used: float
) -> None:
    """Over a minute against a token bucket, the learned limit is a true lower bound close
    to the refill rate, almost every token is used (slow limits lose more to probing),
    and throttles stay rare: well under one a second, where a retry loop gets hundreds."""
    clock = FakeClock()
    pace = Pace(clock=clock)
    bucket = Bucket(limit, burst, clock.now)
    accepted, throttled = _drive(pace, clock, bucket, 60.0)
    learned = pace.snapshot.limit
    assert pace.snapshot.mode == "learned" and learned is not None
    assert 0.85 * limit <= learned <= limit
    assert accepted >= used * limit * 60
    assert throttled <= 30


def test_the_learned_pace_never_falls_below_what_is_proven() -> None:
    """A throttle after a long stretch at the limit steps the pace down by at most
    STEP_DOWN, and never below the rate the accepted requests prove."""
    clock = FakeClock()
    pace = Pace(clock=clock)
    bucket = Bucket(10.0, 2, clock.now)
    _drive(pace, clock, bucket, 30.0)
    before = pace.snapshot.rate
    assert before is not None
    pace.on_throttle(10_000)
    after = pace.snapshot.rate
    assert after is not None and 0.95 * before - 1e-9 <= after <= before
    assert after >= 9.0  # 300 accepted in 30 s prove about 10/s


def test_a_limit_that_rises_is_found_by_probing() -> None:
    clock = FakeClock()
    pace = Pace(clock=clock)
    bucket = Bucket(5.0, 2, clock.now)
    _drive(pace, clock, bucket, 20.0)
    bucket.rate = 10.0
    _drive(pace, clock, bucket, 30.0)
    accepted, _ = _drive(pace, clock, bucket, 30.0)
    assert accepted >= 0.9 * 10.0 * 30


def test_cap_is_never_exceeded() -> None:
    clock = FakeClock()
    pace = Pace(cap=5.0, clock=clock)
    assert pace.snapshot.rate == 5.0
    bucket = Bucket(50.0, 5, clock.now)
    _drive(pace, clock, bucket, 20.0)
    assert pace.snapshot.rate == 5.0
    bucket.rate = 2.0
    _drive(pace, clock, bucket, 20.0)
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
                    # Read as the block starts: a read after it ends could come late (the
                    # process descheduled on a loaded machine) and make the next gap short.
                    starts.append(time.monotonic())
                    await anyio.sleep(0.001)  # e.g. the ledger's fsync

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
    """Slow retries fill slices one attempt each. Eight lone failures and two
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
