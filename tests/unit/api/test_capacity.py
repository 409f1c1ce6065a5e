"""Recognising Devin's concurrent-session 429: one case per wording seen in public, and
the 429s that must stay throttles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from launcher.api.capacity import CapacityHit, capacity_hit


@pytest.mark.parametrize(
    ("message", "limit"),
    [
        # Devin's own body text (NOTES.md; public reports of POST /v1/sessions).
        ("You exceeded your concurrent session limit of 5", 5),
        # As quoted in public stress-test reports, with the status and quotes around it.
        ('HTTP 429 — "You exceeded your concurrent session limit of 5"', 5),
        # Shortened in the same reports.
        ('Devin API HTTP 429 ("concurrent session limit of 5")', 5),
        # What the launcher's client makes of it: "HTTP 429: " + the detail.
        ("HTTP 429: You exceeded your concurrent session limit of 10", 10),
        # A JSON body, detail as a string or as FastAPI items.
        ('{"detail": "You exceeded your concurrent session limit of 3"}', 3),
        ('{"detail": [{"msg": "You exceeded your concurrent session limit of 7"}]}', 7),
        # Case, plural, hyphens, punctuation.
        ("YOU EXCEEDED YOUR CONCURRENT SESSION LIMIT OF 5.", 5),
        ("you exceeded your concurrent sessions limit of 12!", 12),
        ("Concurrent-session limit: 4", 4),
        ("concurrent_session_limit=8", 8),
        ("You have exceeded your concurrent session limit (5).", 5),
        # No number: still capacity, the limit is learned another way.
        ("You exceeded your concurrent session limit", None),
        ("Concurrent session limit reached. Try again later.", None),
    ],
)
def test_capacity_wordings(message: str, limit: int | None) -> None:
    assert capacity_hit(429, message) == CapacityHit(limit)


@pytest.mark.parametrize(
    "message",
    [
        "Too Many Requests",
        "Rate limit exceeded, retry in 2 seconds",
        '{"detail": "Too many requests"}',
        "You exceeded your session limit of 5",  # not "concurrent"
        "concurrent requests limit of 5",
        "",
    ],
)
def test_other_429s_are_throttles(message: str) -> None:
    assert capacity_hit(429, message) is None


@pytest.mark.parametrize("status", [400, 403, 503, None])
def test_only_a_429_is_capacity(status: int | None) -> None:
    assert capacity_hit(status, "You exceeded your concurrent session limit of 5") is None


def test_a_zero_limit_is_not_a_limit() -> None:
    assert capacity_hit(429, "concurrent session limit of 0") == CapacityHit(None)


def test_huge_messages_are_bounded() -> None:
    # The words past the scanned prefix are not looked at: bounded time on any body.
    assert capacity_hit(429, "x" * 10_000 + "concurrent session limit of 5") is None
    assert capacity_hit(429, "concurrent session limit of 5. " + "x" * 10_000) == CapacityHit(5)


@given(st.text(max_size=300))
def test_never_raises(message: str) -> None:
    hit = capacity_hit(429, message)
    assert hit is None or hit.limit is None or hit.limit > 0
