"""An HTTP answer as the client reads it: its body within bounds, the API's own words for
an error (FastAPI `detail`), and `Retry-After` as seconds."""

from __future__ import annotations

import email.utils
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from launcher import jsonio

MAX_BODY_BYTES = 1 << 20  # an answer is a few hundred bytes; reading stops past this
MAX_RETRY_AFTER = 86400.0  # a day: a longer (or infinite) Retry-After is read as a day


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as delay-seconds or as an HTTP date, at most a day; None when absent,
    unreadable, negative, not finite or in the past (the caller then backs off itself)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = datetime.now(UTC).timestamp() if now is None else now
        seconds = when.timestamp() - current
        if seconds <= 0:
            return None  # a date already past says nothing about when to come back
    if math.isnan(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer read within bounds: at most MAX_BODY_BYTES of its body."""

    status: int
    reason: str
    headers: httpx.Headers
    body: bytes
    truncated: bool

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body's JSON value; jsonio.JsonError (a ValueError) when it is not JSON or is
        nested too deeply."""
        return jsonio.loads(self.body)


def api_message(answer: Answer) -> str:
    """The API's own words for an error: FastAPI `detail` (string or items), else the text.
    Whole: callers redact secrets first and shorten after, so no secret is cut in two.

    Validation items keep only `loc` and `msg`: FastAPI may echo the offending `input`,
    which can be a secret value.
    """
    try:
        payload = answer.json()
    except ValueError:
        return answer.text.strip() or answer.reason
    detail = payload.get("detail", payload) if isinstance(payload, dict) else payload
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)
