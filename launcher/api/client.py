"""One Devin API call over httpx, and the classification of its outcome.

httpx exceptions and HTTP statuses are translated here, at the edge, into a small set of
outcome values (`launcher.api.outcomes`) the dispatcher reasons about.
"""

from __future__ import annotations

import email.utils
import json
import urllib.parse
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import httpx

from launcher import __version__
from launcher.api.capacity import capacity_hit
from launcher.api.outcomes import (
    ApiError,
    AtLimit,
    Created,
    Fatal,
    Final,
    InDoubt,
    LookupFailed,
    Outcome,
    RetrySafe,
)

MAX_ERROR_CHARS = 500
MAX_BODY_BYTES = 16 * 1024 * 1024  # a page of 100 rows with 64 KB outputs is ~7 MB


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as delay-seconds or as an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = datetime.now(timezone.utc).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


class Redactor:
    """Removes secret values and the API key from any text that came back from the API."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def api_message(response: httpx.Response) -> str:
    """The API's own words for an error: FastAPI `detail` (string or items), else the text.
    Whole: callers redact secrets first and shorten after, so no secret is cut in two.

    Validation items keep only `loc` and `msg`: FastAPI may echo the offending `input`,
    which can be a secret value.
    """
    try:
        payload = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    detail = payload.get("detail", payload) if isinstance(payload, dict) else payload
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
            else:
                parts.append(str(item))
        message = "; ".join(parts)
    else:
        message = str(detail)
    return message


class DevinClient:
    """The v1 sessions calls over one shared `httpx.AsyncClient`: create and look up (as
    outcome values), then list, get, terminate and message (follow-through)."""

    def __init__(self, http: httpx.AsyncClient, api_key: str, redact: Redactor) -> None:
        self._http = http
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": f"launcher/{__version__}",
        }
        self._redact = redact

    async def create_session(self, body: Mapping[str, Any]) -> Outcome:
        try:
            response = await self._http.post("/v1/sessions", json=body, headers=self._headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # The request never left: nothing can have been created.
            return RetrySafe(f"connection failed: {_describe(exc)}")
        except (httpx.WriteError, httpx.WriteTimeout) as exc:
            # The body was not fully written, so the server cannot have acted on it.
            return RetrySafe(f"sending failed: {_describe(exc)}")
        except httpx.TimeoutException as exc:
            return InDoubt(f"no answer in time: {_describe(exc)}")
        except httpx.TransportError as exc:
            return InDoubt(f"connection lost after sending: {_describe(exc)}")
        return self._classify(response)

    def _classify(self, response: httpx.Response) -> Outcome:
        status = response.status_code
        if 200 <= status < 300:
            try:
                data = response.json()
                return Created(
                    session_id=str(data["session_id"]),
                    url=str(data["url"]),
                    is_new_session=data.get("is_new_session"),
                )
            except (ValueError, KeyError, TypeError):
                return InDoubt(f"HTTP {status} with an unreadable body", status)
        message = self._message(response)
        if 300 <= status < 400:
            # httpx does not follow redirects: the base URL is wrong (http vs https, a path).
            where = response.headers.get("Location", "somewhere else")
            return Final(f"HTTP {status}: the API redirects to {where}; fix --base-url", status)
        hit = capacity_hit(status, message)
        if hit is not None:
            return AtLimit(f"HTTP {status}: {message}", hit.limit)
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return RetrySafe(f"HTTP {status}: {message}", status, retry_after)
        if status in (401, 403):
            return Fatal(f"HTTP {status}: {message}", status)
        if 400 <= status < 500:
            return Final(f"HTTP {status}: {message}", status)
        return InDoubt(f"HTTP {status}: {message}", status)

    async def find_by_tag(self, tag: str) -> list[dict[str, Any]]:
        """Sessions carrying `tag`, oldest first. Raises LookupFailed on any doubt."""
        try:
            response = await self._http.get(
                "/v1/sessions", params={"tags": tag, "limit": 100}, headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise LookupFailed(f"lookup failed: {_describe(exc)}") from None
        if response.status_code != 200:
            raise LookupFailed(
                f"lookup failed: HTTP {response.status_code}: {self._message(response)}"
            )
        try:
            sessions = response.json()["sessions"]
        except (ValueError, KeyError, TypeError):
            raise LookupFailed("lookup failed: unreadable answer") from None
        if not isinstance(sessions, list):
            raise LookupFailed("lookup failed: unreadable answer")
        found = [s for s in sessions if isinstance(s, dict) and tag in (s.get("tags") or [])]
        if any(not isinstance(s.get("session_id"), str) or not s["session_id"] for s in found):
            raise LookupFailed("lookup failed: a matching session has no session_id")
        return sorted(found, key=lambda s: str(s.get("created_at", "")))

    # --- follow-through (SPEC §9): answers as values or ApiError, never httpx errors ----

    async def list_sessions(self, tag: str, limit: int, offset: int) -> Any:
        """One page of GET /v1/sessions filtered by `tag`: the decoded JSON, unchecked."""
        params = {"tags": tag, "limit": limit, "offset": offset}
        return await self._json("GET", "/v1/sessions", params=params)

    async def get_session(self, session_id: str) -> Any:
        """GET /v1/sessions/{id}: the decoded JSON, or None when the API does not know it."""
        return await self._json("GET", f"/v1/sessions/{_path(session_id)}", missing_ok=True)

    async def delete_session(self, session_id: str) -> str:
        """Terminate a session: "terminated", or "already exited" (422), or ApiError."""
        try:
            await self._json("DELETE", f"/v1/sessions/{_path(session_id)}")
        except ApiError as exc:
            if exc.status == 422:
                return "already exited"
            raise
        return "terminated"

    async def send_message(self, session_id: str, text: str) -> None:
        """POST /v1/sessions/{id}/message; ApiError when it was not accepted."""
        path = f"/v1/sessions/{_path(session_id)}/message"
        await self._json("POST", path, body={"message": text})

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> Any:
        try:
            async with self._http.stream(
                method, path, params=params, json=body, headers=self._headers
            ) as response:
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_BODY_BYTES:
                        raise ApiError(f"HTTP {response.status_code}: answer over 16 MiB")
        except httpx.HTTPError as exc:
            raise ApiError(f"{method} failed: {_describe(exc)}") from None
        status = response.status_code
        if missing_ok and status == 404:
            return None
        if not 200 <= status < 300:
            full = httpx.Response(status, headers=response.headers, content=bytes(data))
            retry = parse_retry_after(response.headers.get("Retry-After"))
            raise ApiError(f"HTTP {status}: {self._message(full)}", status, retry)
        try:
            return json.loads(data) if data else None
        except ValueError:
            raise ApiError(f"HTTP {status} with an unreadable body", status) from None

    def _message(self, response: httpx.Response) -> str:
        """The API's message, secrets removed, then shortened."""
        return self._redact(api_message(response))[:MAX_ERROR_CHARS]


def _path(session_id: str) -> str:
    """A session id as one path segment: an id from a hostile ledger cannot add path parts."""
    return urllib.parse.quote(session_id, safe="")


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
