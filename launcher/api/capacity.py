"""Devin's concurrent-session limit: recognising its 429 among other 429s.

The one place that knows Devin's wording. A capacity 429 is not a rate limit: it clears
only when sessions end, so callers must not slow down, retry soon, or spend an attempt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from launcher import jsonio

# Every wording seen in public, one test each in tests/unit/api/test_capacity.py:
#   "You exceeded your concurrent session limit of 5"           (Devin's 429 body)
#   'HTTP 429 — "You exceeded your concurrent session limit of 5"' (quoted in reports)
#   "concurrent session limit of 5"                             (shortened in reports)
# plus what a tolerant reader should survive: any case, "sessions", a hyphen or
# underscore instead of a space, a JSON {"detail": ...} body, trailing punctuation.
# A bare "Too many requests" is a rate limit, not capacity: it must not match.
CAPACITY_PATTERN = re.compile(
    r"concurrent[\s_-]+sessions?[\s_-]+limit"
    r"(?:\W{0,3}(?:of|is|=|:)?\W{0,3}(?P<limit>\d{1,6})\b)?",
    re.IGNORECASE,
)
MAX_SCANNED = 2000  # characters of a message looked at: bounded whatever the server sends


@dataclass(frozen=True)
class CapacityHit:
    """A 429 that names the concurrent-session limit; `limit` when the message gives N."""

    limit: int | None


def _text(message: str) -> str:
    """The message, with a JSON `detail` (string or list of items) unwrapped."""
    message = message[:MAX_SCANNED]
    start = message.find("{")
    if start < 0:
        return message
    try:
        payload = jsonio.loads(message[start:])
    except ValueError:
        return message
    detail = payload.get("detail", payload) if isinstance(payload, dict) else payload
    if isinstance(detail, list):
        detail = " ".join(str(i.get("msg", i)) if isinstance(i, dict) else str(i) for i in detail)
    return f"{message[:start]} {detail}"


def capacity_hit(status: int | None, message: str) -> CapacityHit | None:
    """A CapacityHit when `status` is 429 and `message` names the concurrent-session
    limit, else None (an ordinary 429 stays a throttle)."""
    if status != 429:
        return None
    match = CAPACITY_PATTERN.search(_text(message))
    if match is None:
        return None
    limit = match.group("limit")
    return CapacityHit(int(limit) if limit and int(limit) > 0 else None)
