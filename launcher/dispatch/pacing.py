"""How fast requests start: one pace shared by every worker, and the backoff waits.

The pace is smooth (requests are spaced, never released in bursts) and adaptive: a 429
or 503 lowers it for everyone, and it climbs back while the server accepts, the way
TCP (slow start, then CUBIC) and AWS's adaptive retry mode do. `--rate` caps it.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from tenacity import RetryCallState, wait_random_exponential

MIN_RATE = 0.5  # requests/s: the floor an adaptive pace never goes below
BETA = 0.9  # after a throttle, the pace falls to BETA x the rate the server accepted
CUBIC_C = 0.05  # how eagerly the pace probes above the last known limit (CUBIC's C)
ACCEPT_WINDOW = 1.0  # seconds over which the accepted rate is measured (2 s was steadier
# against a server's burst allowance, but lost 3% of throughput in bench_adaptive)
MIN_MEASURE = 0.5  # seconds of history needed before a throttle measures the limit
SLOW_START_DOUBLING = 1.0  # seconds for slow start to double the pace
SLOW_START_BACKOFF = 0.8  # the limit is at least this fraction of the pace that overshot
BACKOFF_BASE = 0.5  # seconds: first full-jitter backoff window when no Retry-After
RETRY_AFTER_SPREAD = 0.25  # released retries are spread over this fraction of the wait


@dataclass(frozen=True)
class PaceSnapshot:
    rate: float | None  # current pace in requests/s; None while unlimited
    throttles: int  # 429/503 answers seen
    mode: str  # "unlimited", "fixed", "slow-start", "avoidance"


class Pace:
    """The one pace every worker draws from before a request starts.

    `start()` yields the pace's epoch; a throttle reported with an epoch older than the
    current one belongs to a congestion episode already reacted to, and is ignored, so a
    burst of 429s from requests that were in flight together lowers the pace only once.
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
        self._accepted: deque[float] = deque()
        self._w_max = 0.0
        self._since = 0.0  # when the current congestion-avoidance phase began
        self._k = 0.0
        self._born: float | None = None  # when the first request started
        self._ss_rate = MIN_RATE  # the pace slow start began from

    @property
    def snapshot(self) -> PaceSnapshot:
        return PaceSnapshot(self._rate, self._throttles, self._mode)

    @asynccontextmanager
    async def start(self, stop: anyio.Event | None = None) -> AsyncIterator[int]:
        """Wait until a request may start; yields the pace's epoch.

        The caller does its last step before sending (the durable ledger intent) inside
        the block; the next start is spaced 1/rate from when the block ends, so however
        long that step takes, no two requests leave closer than 1/rate. FIFO order. With
        `stop`, setting that event ends the wait early (the caller must then send nothing).
        """
        if self._born is None:
            self._born = self._clock()
        if self._rate is None:
            yield self._epoch
            return
        async with self._lock:
            while self._rate is not None and self._clock() < self._next_start:
                if stop is None:
                    await anyio.sleep(self._next_start - self._clock())
                    continue
                with anyio.move_on_after(self._next_start - self._clock()):
                    await stop.wait()
                if stop.is_set():
                    break  # the caller sees the stop and sends nothing
            yield self._epoch
            if self._rate is not None:
                self._next_start = self._clock() + 1.0 / self._rate

    def on_success(self) -> None:
        now = self._clock()
        if self._born is None:
            self._born = now
        self._accepted.append(now)
        while self._accepted and self._accepted[0] < now - ACCEPT_WINDOW:
            self._accepted.popleft()
        if self._mode == "slow-start":
            # Doubles every SLOW_START_DOUBLING seconds while the server accepts: by time,
            # not per success, so a low starting pace does not crawl.
            grown = self._ss_rate * 2 ** ((now - self._since) / SLOW_START_DOUBLING)
            self._set_rate(grown)
        elif self._mode == "avoidance":
            t = now - self._since
            self._set_rate(CUBIC_C * (t - self._k) ** 3 + self._w_max)

    def on_throttle(self, epoch: int) -> None:
        """A 429/503 for a request that started in `epoch`."""
        self._throttles += 1
        if epoch < self._epoch:
            return
        self._epoch += 1
        now = self._clock()
        if self._born is None:
            self._born = now
        span = min(ACCEPT_WINDOW, now - self._born)
        accepted = sum(1 for t in self._accepted if t >= now - ACCEPT_WINDOW)
        if span < MIN_MEASURE:
            # Too early to measure the server's limit: probe upward from what got in
            # (slow start), and let a throttle of the opening burst not collapse it.
            if self._mode != "slow-start":
                self._mode = "slow-start"
                self._since = now
                self._ss_rate = max(MIN_RATE, float(accepted))
                self._set_rate(self._ss_rate)
                # The burst just emptied the server's allowance: wait a whole interval.
                self._next_start = max(self._next_start, now + 1.0 / self._ss_rate)
            return
        limit = accepted / span
        if self._mode == "slow-start" and self._rate is not None:
            # The window still holds the ramp; the pace that overshot bounds it better.
            limit = max(limit, SLOW_START_BACKOFF * self._rate)
        self._w_max = max(limit, MIN_RATE)
        self._mode = "avoidance"
        self._since = now
        self._k = math.cbrt(self._w_max * (1 - BETA) / CUBIC_C)
        self._set_rate(BETA * self._w_max)

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
