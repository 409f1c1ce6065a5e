"""A word when a batch ends (`--notify URL` on `run --wait` and `watch`): the final summary
POSTed once to each URL as JSON, with a `text` field that Slack and Microsoft Teams
incoming webhooks show, retried with backoff; a failure is a warning, never an exit code.

A webhook URL is a credential (Slack's path is its token): it is never shown whole, and
what is sent passed through the run's redactor first, so no secret value goes out.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from launcher.api.address import is_loopback
from launcher.api.retry import RetryPolicy

MAX_BODY_BYTES = 64 * 1024  # Slack refuses much more; a summary that is longer is cut
MAX_ENTRIES = 200  # entries listed in what is sent: those that did not end well first
TIMEOUT = 10.0


# Attempts per URL, and the exponential wait between them (seconds).
NOTIFY_RETRY = RetryPolicy(attempts=4, initial=0.5, longest=8.0)


def notify_url(value: str) -> str:
    """An argparse converter: an http(s) URL with a host; plain http only to loopback,
    since the URL and the summary would cross the network in clear."""
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        url = httpx.URL("invalid:")
    if url.scheme not in ("http", "https") or not url.host:
        raise argparse.ArgumentTypeError(f"an http(s) URL is needed, got {shown(value)}")
    if url.scheme == "http" and not is_loopback(value):
        raise argparse.ArgumentTypeError(
            f"{shown(value)}: plain http:// only to this machine (the URL and the summary "
            "would cross the network in clear); use https://"
        )
    return value


def shown(url: str) -> str:
    """A URL as it may be printed: scheme and host only (a webhook's path is its token)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(an unreadable URL)"
    if not parsed.scheme or not parsed.host:
        return "(an unreadable URL)"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}/…"


def bounded(summary: Mapping[str, Any], redact: Callable[[str], str]) -> bytes:
    """The summary as the JSON body sent: redacted, and at most MAX_BODY_BYTES (the
    entries that did not end well first, then as many as fit; `entries_not_sent` counts
    the rest)."""
    doc = dict(summary)
    entries = list(doc.get("entries") or [])
    entries.sort(key=lambda e: bool(e.get("ended_well")) if isinstance(e, dict) else True)
    keep = min(len(entries), MAX_ENTRIES)
    while True:
        doc["entries"] = entries[:keep]
        if keep < len(entries):
            doc["entries_not_sent"] = len(entries) - keep
        body = redact(json.dumps(doc, ensure_ascii=True)).encode()
        if len(body) <= MAX_BODY_BYTES or keep == 0:
            return body[:MAX_BODY_BYTES] if keep == 0 else body
        keep //= 2


class _Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, _Refused):
        return exc.status >= 500 or exc.status == 429
    return isinstance(exc, httpx.TransportError)


def post_once(
    urls: Sequence[str],
    body: bytes,
    policy: RetryPolicy = NOTIFY_RETRY,
    client: httpx.Client | None = None,
) -> list[str]:
    """POST `body` to each URL until one attempt is accepted (2xx); the warnings of those
    that never were, each naming the URL only by its host."""
    warnings: list[str] = []
    for url in urls:
        # A proxy from the environment for the world, never for this machine.
        http = client or httpx.Client(
            timeout=TIMEOUT, follow_redirects=False, trust_env=not is_loopback(url)
        )
        try:
            problem = _deliver(http, url, body, policy)
        finally:
            if client is None:
                http.close()
        if problem:
            warnings.append(f"could not notify {shown(url)}: {problem}")
    return warnings


def _deliver(http: httpx.Client, url: str, body: bytes, policy: RetryPolicy) -> str | None:
    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.initial, max=policy.longest),
        retry=retry_if_exception(_retryable),
        reraise=False,
    )
    headers = {"Content-Type": "application/json"}
    try:
        for attempt in retrying:
            with attempt:
                answer = http.post(url, content=body, headers=headers)
                if not 200 <= answer.status_code < 300:
                    raise _Refused(answer.status_code)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        return f"{_words(last)} after {policy.attempts} attempts"
    except (_Refused, httpx.HTTPError) as exc:
        return _words(exc)
    return None


def _words(exc: BaseException | None) -> str:
    # Never str(exc) of an httpx error: it may quote the URL, and with it the token.
    if isinstance(exc, _Refused):
        return f"the receiver answered HTTP {exc.status}"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {TIMEOUT:g}s"
    return f"no connection ({type(exc).__name__})" if exc else "no answer"
