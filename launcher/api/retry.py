"""Every call other than create, retried the one way: on a transient ApiError (no answer,
a throttle, a server error), with exponential full jitter, never sooner than the server's
Retry-After, a few times at most; the last error is raised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from launcher.api.outcomes import ApiError


@dataclass(frozen=True)
class RetryPolicy:
    """Per request: attempts, and the exponential, jittered wait between them (seconds)."""

    attempts: int = 4
    initial: float = 1.0
    longest: float = 60.0


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, ApiError) and exc.transient


class _WaitWithRetryAfter:
    """Exponential full jitter, but never shorter than the server's Retry-After."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._base = wait_random_exponential(multiplier=policy.initial, max=policy.longest)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = exc.retry_after if isinstance(exc, ApiError) and exc.retry_after else 0.0
        return max(float(self._base(state)), asked)


async def call(policy: RetryPolicy, fn: Any, *args: Any) -> Any:
    """`await fn(*args)`, retried on transient ApiErrors; the last one is raised."""
    retrying = AsyncRetrying(
        retry=retry_if_exception(_is_transient),
        wait=_WaitWithRetryAfter(policy),
        stop=stop_after_attempt(policy.attempts),
        reraise=True,
    )
    return await retrying(fn, *args)
