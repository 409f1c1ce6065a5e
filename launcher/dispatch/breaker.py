"""The circuit breaker: stops a run from starting entries while the API keeps failing."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class CircuitBreaker:
    """Opens when the API keeps failing: in at least `threshold` of the last `slices` time
    slices (each span/slices seconds long) that saw attempts, at least `threshold` of the
    attempts failed on the server's side.

    Time slices, not attempt counts: a few entries retrying fast through a two-second
    outage fill two slices, not the window, while at any rate a failure that lasts the
    whole span opens it. And only on enough evidence: at least `min_calls` attempts in
    those slices (Resilience4j's minimumNumberOfCalls), `threshold` of them failed. With
    one attempt per slice, a 503 that clears on the third try (2 in 3 failing) could
    otherwise fill 8 slices of 10 by chance.
    """

    def __init__(
        self,
        span: float = 10.0,
        threshold: float = 0.8,
        slices: int = 10,
        min_calls: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._width = span / slices
        self._slices: deque[list[int]] = deque(maxlen=slices)  # [index, attempts, failures]
        self._threshold = threshold
        self._min_calls = min_calls
        self._clock = clock
        self.reason: str | None = None

    @property
    def open(self) -> bool:
        return self.reason is not None

    def record(self, failed: bool, error: str | None = None) -> None:
        index = int(self._clock() // self._width)
        if self._slices and self._slices[-1][0] == index:
            self._slices[-1][1] += 1
            self._slices[-1][2] += failed
        else:
            self._slices.append([index, 1, int(failed)])
        if self.reason is not None or len(self._slices) < (self._slices.maxlen or 0):
            return
        attempts = sum(n for _, n, _ in self._slices)
        failures = sum(f for _, _, f in self._slices)
        if attempts < self._min_calls or failures < self._threshold * attempts:
            return
        failing = sum(1 for _, n, f in self._slices if f >= self._threshold * n)
        if failing >= self._threshold * len(self._slices):
            seconds = (self._slices[-1][0] - self._slices[0][0] + 1) * self._width
            self.reason = (
                f"the API keeps failing: {failures} of the last {attempts} attempts "
                f"over {seconds:.1f}s failed (last: {error})"
            )
