"""The sandbox's token bucket, its Retry-After promise, and the stats that watch clients."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from launcher.sandbox.handle import SandboxHandle
from launcher.sandbox.ratelimit import TokenBucket, retry_after_seconds


def post(c: httpx.Client, prompt: str) -> httpx.Response:
    return c.post("/v1/sessions", json={"prompt": prompt})


@given(
    rate=st.floats(0.05, 200),
    burst=st.integers(1, 10),
    gaps=st.lists(st.floats(0, 3), min_size=1, max_size=60),
)
def test_retry_after_is_truthful_for_any_arrivals(
    rate: float, burst: int, gaps: list[float]
) -> None:
    now = 1000.0
    bucket = TokenBucket(rate, burst, now)
    for gap in gaps:
        now += gap
        wait = bucket.take(now)
        if wait is not None:
            seconds = retry_after_seconds(wait, None)
            assert seconds >= 1 and seconds == math.ceil(wait)
            # Nothing else comes in between: the retry, right on time, gets its token.
            now += seconds
            assert bucket.take(now) is None


def test_bucket_allows_burst_then_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [None, None, None]
    assert bucket.take(0.0) == 0.5
    assert bucket.take(0.5) is None
    assert bucket.take(0.5) == 0.5  # a refusal takes nothing: the estimate holds
    assert bucket.take(10.0) is None and bucket.take(10.0) is None and bucket.take(10.0) is None
    assert bucket.take(10.0) is not None  # refill capped at the burst


@pytest.mark.slow
def test_burst_gets_429_and_a_retry_after_retry_after_succeeds(
    make_sandbox: Callable[..., SandboxHandle],
) -> None:
    sb = make_sandbox(rate=2.0, burst=3)
    with httpx.Client(base_url=sb.base_url) as c:
        assert [post(c, f"p{i}").status_code for i in range(3)] == [200, 200, 200]
        refused = post(c, "p3")
        assert refused.status_code == 429
        assert refused.json() == {"detail": "Rate limit exceeded"}
        seconds = int(refused.headers["Retry-After"])
        assert seconds == 1  # 0.5 s until a token, in whole seconds
        assert c.get("/v1/sessions").status_code == 200  # lookups are not limited
        time.sleep(seconds)
        assert post(c, "p3").status_code == 200
    stats = sb.stats()
    assert stats["rate_limited"] == 1 and stats["early_retries"] == 0
    assert stats["status_counts"] == {"200": 4, "429": 1} and stats["sessions"] == 4


def test_retry_after_rounds_up_to_the_next_token(
    make_sandbox: Callable[..., SandboxHandle],
) -> None:
    sb = make_sandbox(rate=0.4, burst=1)  # one token each 2.5 s
    with httpx.Client(base_url=sb.base_url) as c:
        assert post(c, "a").status_code == 200
        assert post(c, "b").headers["Retry-After"] == "3"


@pytest.mark.slow
def test_fixed_retry_after_is_sent_and_kept(make_sandbox: Callable[..., SandboxHandle]) -> None:
    # 1/s: the third post is refused unless a whole second passed since the second (at
    # 10/s, a loaded machine's 100 ms between posts let it in).
    sb = make_sandbox(rate=1.0, burst=2, retry_after=1)
    with httpx.Client(base_url=sb.base_url) as c:
        assert [post(c, f"p{i}").status_code for i in range(2)] == [200, 200]
        refused = post(c, "p2")
        assert (refused.status_code, refused.headers["Retry-After"]) == (429, "1")
        time.sleep(1.0)
        assert post(c, "p2").status_code == 200
    assert sb.stats()["early_retries"] == 0


def test_a_retry_before_retry_after_is_counted_early(
    make_sandbox: Callable[..., SandboxHandle],
) -> None:
    sb = make_sandbox(rate=1.0, burst=1)
    with httpx.Client(base_url=sb.base_url) as c:
        assert post(c, "first").status_code == 200
        assert post(c, "second").status_code == 429
        assert post(c, "second").status_code == 429  # the same body, at once: early
        assert post(c, "third").status_code == 429  # another body: not a retry
        # Another spelling of the same body counts too (canonical JSON).
        c.post("/v1/sessions", content=b'{ "prompt" : "second" }')
    stats = sb.stats()
    assert stats["early_retries"] == 2 and stats["rate_limited"] == 4


@pytest.mark.slow
def test_max_in_flight_counts_concurrent_posts(make_sandbox: Callable[..., SandboxHandle]) -> None:
    sb = make_sandbox(latency_ms=200)

    async def burst(n: int) -> list[int]:
        async with httpx.AsyncClient(base_url=sb.base_url, timeout=10) as c:
            codes: list[int] = []

            async def one(i: int) -> None:
                codes.append((await c.post("/v1/sessions", json={"prompt": f"p{i}"})).status_code)

            async with anyio.create_task_group() as tg:
                for i in range(n):
                    tg.start_soon(one, i)
            return codes

    started = time.monotonic()
    assert anyio.run(burst, 6) == [200] * 6
    assert time.monotonic() - started < 1.0  # concurrent, not one after another
    assert sb.stats()["max_in_flight"] == 6
    with httpx.Client(base_url=sb.base_url) as c:
        before = time.monotonic()
        post(c, "late")
        assert time.monotonic() - before >= 0.2  # latency_ms delays the answer
    stats = sb.stats()
    assert stats["max_in_flight"] == 6 and stats["in_flight"] == 0
