"""The sandbox's rate limit: a token bucket, and the Retry-After it can honestly promise."""

from __future__ import annotations

import math

# Float refills land a hair short of a whole token (0.9999999999) at the very instant
# the Retry-After promised one; without this slack that retry would be refused.
_EPSILON = 1e-9


class TokenBucket:
    """`rate` tokens per second, at most `burst` stored; it starts full.

    Time is passed in (monotonic seconds) rather than read here, so that tests can drive
    it with a fake clock and the caller decides which instant a request counts at.
    """

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float) -> float | None:
        """Take a token: None when one was free, else the seconds until one will be."""
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._stamp = max(self._stamp, now)
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens -= 1.0
            return None
        # A refused request takes nothing, so this estimate stays true unless another
        # request takes the token first.
        return (1.0 - self._tokens) / self.rate


def retry_after_seconds(wait: float, fixed: float | None) -> int:
    """The Retry-After header value: whole seconds (RFC 9110 delay-seconds), rounded up.

    Rounding up keeps the promise: at that moment a token is free. A configured fixed
    value is rounded up the same way, since the header cannot carry a fraction.
    """
    return math.ceil(fixed if fixed is not None else wait)
