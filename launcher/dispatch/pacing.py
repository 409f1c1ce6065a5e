"""How fast requests start: one pace shared by every worker, and the backoff waits.

The pace is smooth (requests are spaced, never released in bursts) and adaptive: it
learns the server's rate limit from when its token bucket runs dry (a 429 or 503), and
then runs just above it, so that every token is used and throttles stay rare. `--rate`
caps it.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from tenacity import RetryCallState, wait_random_exponential

MIN_RATE = 0.5  # requests/s: the floor an adaptive pace never goes below
OPENING_WINDOW = 1  # before the first answer, how many requests may go unanswered at once
OPENING_GROWTH = 1.0  # how much one success widens it (x2 a round trip, TCP's slow start)
OPEN_WINDOW_AT = 64  # the opening window stops mattering once it has grown this wide
ACCEPT_WINDOW = 1.0  # seconds over which the accepted rate is measured at the first throttle
RAMP_FROM = 3.0  # the ramp starts at this multiple of what got in over the last second
# (the opening window let in about a bucket's worth in a fraction of a second)
RAMP_DOUBLING = 0.5  # seconds for the ramp to double, until the second throttle
MARGIN = 0.02  # once learned, the pace runs this fraction above the limit (see Pace)
HORIZON = 30.0  # seconds of dry moments the limit is learned from (a limit may change)
MIN_SPAN = 0.5  # seconds: a shorter span after a dry moment proves nothing about the rate
STEP_DOWN = 0.02  # after a throttle, the learned pace falls by this fraction (at most)
HEADROOM = 2.0  # tokens: the learned pace runs this many per measured span above the proof
PROBE_AFTER = 2.0  # seconds without a throttle before the learned pace probes higher
PROBE_STEP = 0.02  # by this fraction, doubled at each probe until the next throttle
BACKOFF_BASE = 0.5  # seconds: first full-jitter backoff window when no Retry-After
RETRY_AFTER_SPREAD = 0.25  # released retries are spread over this fraction of the wait


@dataclass(frozen=True)
class PaceSnapshot:
    rate: float | None  # current pace in requests/s; None while unlimited
    throttles: int  # 429/503 answers seen
    mode: str  # "unlimited", "fixed", "ramp", "learned"
    limit: float | None = None  # the server's refill rate as learned, once it is


class Pace:
    """The one pace every worker draws from before a request starts.

    It learns a rate limit instead of only backing off from it. A throttle (429/503)
    means the server's token bucket was empty at that moment; between two such dry
    moments, the requests it accepted equal the tokens it refilled, give or take one.
    So once the pace runs at or above the limit, the accepted requests counted since an
    earlier dry moment, over the time since, *are* the refill rate, with an error that
    shrinks as 1/time. The pace then runs MARGIN above that: no token is left unused (a
    pace below the limit lets the bucket overflow, and those tokens are lost for good),
    and a throttle comes only every 1/(MARGIN x limit) seconds or so, each one refining
    the measurement. Without a throttle for PROBE_AFTER seconds it probes PROBE_STEP
    higher, in case the limit rose or was under-measured.

    Before the first throttle nothing is known: the pace is unlimited, but the number of
    unanswered requests grows from OPENING_WINDOW by one per success (TCP's slow start),
    so that a low limit costs one throttle, not a whole burst of them. After it, the pace
    doubles every RAMP_DOUBLING seconds from what got in, until the second throttle.

    `start()` yields the pace's epoch; a throttle reported with an epoch older than the
    current one belongs to a dry moment already reacted to, and is ignored, so a burst
    of 429s from requests that were in flight together counts once.
    """

    def __init__(self, cap: float | None = None, clock: Callable[[], float] = time.monotonic):
        self._cap = cap
        self._clock = clock
        self._rate: float | None = cap
        self._mode = "fixed" if cap else "unlimited"
        self._lock = anyio.Lock()
        self._next_start = 0.0
        self._epoch = 0
        self._throttles = 0
        self._accepted: deque[float] = deque()  # success times, for the first measurement
        self._successes = 0
        self._window: float | None = None if cap else OPENING_WINDOW
        self._unanswered = 0
        self._answered = anyio.Event()
        self._since = 0.0  # when the ramp began, or the last throttle or probe
        self._ramp_from = MIN_RATE
        self._dry: deque[tuple[float, int]] = deque()  # (when, successes by then)
        self._limit: float | None = None
        self._probes = 0

    @property
    def snapshot(self) -> PaceSnapshot:
        return PaceSnapshot(self._rate, self._throttles, self._mode, self._limit)

    @asynccontextmanager
    async def start(
        self, stop: anyio.Event | None = None, *, answered: bool = True
    ) -> AsyncIterator[int]:
        """Wait until a request may start; yields the pace's epoch.

        The caller does its last step before sending (the durable ledger intent) inside
        the block; the next start is spaced 1/rate from when the block ends, so however
        long that step takes, no two requests leave closer than 1/rate. FIFO order. With
        `stop`, setting that event ends the wait early (the caller must then send nothing).
        With `answered` (the default), the caller reports the request's answer through
        `landed()` once the block has ended normally; lookups that take no part in the
        opening window pass False.
        """
        async with self._lock:
            while not (stop is not None and stop.is_set()):
                if answered and self._window is not None and self._unanswered >= self._window:
                    await self._until(self._answered, None, stop)
                elif self._rate is not None and self._clock() < self._next_start:
                    await self._until(stop, self._next_start - self._clock(), None)
                else:
                    break
            yield self._epoch
            if answered:
                self._unanswered += 1
            if self._rate is not None:
                self._next_start = self._clock() + 1.0 / self._rate

    @staticmethod
    async def _until(
        event: anyio.Event | None, delay: float | None, stop: anyio.Event | None
    ) -> None:
        if stop is not None and event is not None and event is not stop:
            async with anyio.create_task_group() as tg:

                async def either(e: anyio.Event) -> None:
                    await e.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(either, event)
                tg.start_soon(either, stop)
            return
        with anyio.move_on_after(delay):
            await (event.wait() if event is not None else anyio.sleep_forever())

    def landed(self) -> None:
        """A request that `start()` let through has its answer (whatever it was)."""
        self._unanswered = max(0, self._unanswered - 1)
        self._answered.set()
        self._answered = anyio.Event()

    def on_success(self) -> None:
        now = self._clock()
        self._successes += 1
        self._accepted.append(now)
        while self._accepted and self._accepted[0] < now - ACCEPT_WINDOW:
            self._accepted.popleft()
        if self._window is not None:
            self._window += OPENING_GROWTH
            if self._window >= OPEN_WINDOW_AT:
                self._window = None
        if self._mode == "ramp":
            self._set_rate(self._ramp_from * 2 ** ((now - self._since) / RAMP_DOUBLING))
        elif self._mode == "learned" and self._rate and now - self._since >= PROBE_AFTER:
            # Each probe without a throttle twice the last: a limit that rose, or was
            # under-measured, is found in a few seconds.
            self._since = now
            self._set_rate(self._rate * (1 + PROBE_STEP * 2**self._probes))
            self._probes += 1

    def on_throttle(self, epoch: int) -> None:
        """A 429/503 for a request that started in `epoch`."""
        self._throttles += 1
        if epoch < self._epoch:
            return
        self._epoch += 1
        now = self._clock()
        self._window = None
        if self._mode in ("unlimited", "fixed"):
            # The first dry moment: nothing measured yet. Ramp up from what got in.
            self._mode = "ramp"
            self._ramp_from = max(MIN_RATE, RAMP_FROM * len(self._accepted))
            self._set_rate(self._ramp_from)
            self._next_start = max(self._next_start, now + 1.0 / self._ramp_from)
        elif self._mode == "ramp":
            # The ramp ran above the limit only at its end, so what got in since the
            # first dry moment says little; the ramp drains a small bucket within about
            # one doubling of crossing the limit, so half its pace is the first guess.
            # Later dry moments correct it, and it never goes below what is proven.
            self._mode = "learned"
            proven = self._lower_bound(now)
            self._limit = max(proven[0] if proven else MIN_RATE, (self._rate or MIN_RATE) / 2)
            self._set_rate(self._limit * (1 + MARGIN))
        else:
            # The pace drained the bucket: it ran above the limit, but not by much (it
            # was set just above it). Back to what is proven plus the measurement's
            # error, or a small step down, whichever is higher; dry again at once means
            # the pace was well above the limit: a larger step.
            proven = self._lower_bound(now)
            current = self._rate or MIN_RATE
            last, accepted = self._dry[-1]
            # The bucket ran dry again: since the last dry moment the pace was above
            # the limit, so what got in since then is about the refill, and a pace far
            # above the limit comes down to it at once rather than step by step.
            got_in, span_last = self._successes - accepted, now - last
            if got_in >= 3 or span_last >= MIN_SPAN:
                pace = min(current * (1 - STEP_DOWN), got_in / span_last * (1 + MARGIN))
            else:  # too little to measure: well above the limit, that is all it says
                pace = current * (1 - 4 * STEP_DOWN)
            if proven is not None:
                self._limit, span = proven
                pace = max(pace, self._limit + HEADROOM / span)
            self._set_rate(pace)
        self._dry.append((now, self._successes))
        self._since = now
        self._probes = 0

    def _lower_bound(self, now: float) -> tuple[float, float] | None:
        """The refill rate proven by what got in since the dry moments on record, and
        the span it was measured over; None while no span is long enough.

        At a dry moment the bucket held less than one token; n requests accepted in the
        `span` seconds since then need at least n - 1 refilled tokens. This holds whatever
        the pace did meanwhile (a bucket that overflowed only lowers n), so the highest of
        these bounds is a safe floor for the pace. While the pace stays above the limit
        (no overflow), the rate is also at most (n + 1) / span: the bound is then within
        2 / span of the truth, which is why the pace runs HEADROOM / span above it.
        """
        while self._dry and self._dry[0][0] <= now - HORIZON:
            self._dry.popleft()
        best: tuple[float, float] | None = None
        for then, successes in self._dry:
            span = now - then
            if span >= MIN_SPAN:
                bound = max(MIN_RATE, (self._successes - successes - 1) / span)
                if best is None or bound > best[0]:
                    best = (bound, span)
        return best

    def _set_rate(self, rate: float) -> None:
        rate = max(MIN_RATE, rate)
        if self._cap is not None:
            rate = min(self._cap, rate)
        self._rate = rate


class RetryWait:
    """tenacity wait: the server's Retry-After when it gave one, else full-jitter backoff.

    Retries released by the same burst of 429s are spread over a fraction of the wait
    instead of all coming back in the same instant.
    """

    def __init__(self, max_wait: float, rng: random.Random | None = None) -> None:
        self._jitter = wait_random_exponential(multiplier=BACKOFF_BASE, max=max_wait)
        self._max_wait = max_wait
        self._rng = rng or random.Random()

    def __call__(self, state: RetryCallState) -> float:
        outcome = state.outcome.result() if state.outcome and not state.outcome.failed else None
        retry_after = getattr(outcome, "retry_after", None)
        if retry_after is not None:
            # Spread, but never past --max-wait unless the server itself asked for more
            # (then the wait is exactly its Retry-After, and the entry fails saying so).
            spread = float(retry_after) * (1 + self._rng.uniform(0, RETRY_AFTER_SPREAD))
            return max(float(retry_after), min(spread, self._max_wait))
        return float(self._jitter(state))
