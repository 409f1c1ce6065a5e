"""One Devin API call over httpx, and the classification of its outcome.

httpx exceptions and HTTP statuses are translated here, at the edge, into a small set of
outcome values (`launcher.api.outcomes`) the dispatcher reasons about. Everything the
server says is bounded here (size and time), type-checked and redacted before it goes on.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

import anyio
import httpx

from launcher import __version__
from launcher.api.answer import MAX_BODY_BYTES, Answer, api_message, parse_retry_after
from launcher.api.capacity import capacity_hit
from launcher.api.lookup import CLOCK_SKEW, Listing, Page, find_tagged
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
from launcher.api.redact import Redactor
from launcher.api.target import Generation
from launcher.api.v3 import create_body, lookup_params, next_cursor
from launcher.ids import session_id_problem

__all__ = ["DevinClient", "Redactor", "TransportFailure", "path_segment", "url_problem"]

MAX_ERROR_CHARS = 500
MAX_ID_CHARS = 256
MAX_URL_CHARS = 2048
# The duplicate check's listing pages, read one at a time: 100 rows with 64 KB outputs are
# ~7 MB, and a page it cannot read leaves the entry in doubt.
LOOKUP_PAGE_BYTES = 16 * 1024 * 1024
LOOKUP_PAGE = 100  # rows asked for per page by the duplicate check


Phase = Literal["unreachable", "unsent", "in_doubt"]


class TransportFailure(ApiError):
    """No HTTP answer: how far the request got decides what may be done about it."""

    def __init__(self, message: str, phase: Phase) -> None:
        super().__init__(message)
        self.phase = phase


class DevinClient:
    """Create a session and look sessions up by tag, over one shared `httpx.AsyncClient`
    (opened by `launcher.api.connection`), as outcome values; FollowClient
    (`launcher.api.followclient`) adds the follow-through calls, which raise ApiError.

    Each request, from connecting to its last byte, ends within `deadline` seconds (httpx's
    own timeouts bound each read, not the whole), and reads at most MAX_BODY_BYTES.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_key: str,
        redact: Redactor,
        *,
        deadline: float = 30.0,
        generation: Generation = "v1",
        org: str | None = None,
    ) -> None:
        self._http = http
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": f"launcher/{__version__}",
        }
        self._redact = redact
        self._deadline = deadline
        self.generation: Generation = generation
        self._sessions = (
            f"/v3/organizations/{path_segment(org or '')}/sessions"
            if generation == "v3"
            else "/v1/sessions"
        )

    @property
    def sessionspath_segment(self) -> str:
        """The path of the sessions collection in this API (create, list)."""
        return self._sessions

    @contextmanager
    def _mapped(self) -> Iterator[None]:
        """The one place httpx's errors (and the deadline) become the launcher's, as httpx
        maps httpcore's: each says whether the request can have reached the server."""
        try:
            yield
        except TimeoutError:
            message = f"no complete answer within {self._deadline:g}s (--timeout)"
            raise TransportFailure(message, "in_doubt") from None
        except httpx.ConnectError as exc:
            # No connection: nothing left. Every attempt failing so is a wrong address.
            raise TransportFailure(
                f"cannot connect: {self._describe(exc)}", "unreachable"
            ) from None
        except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransportFailure(f"connection failed: {self._describe(exc)}", "unsent") from None
        except (httpx.WriteError, httpx.WriteTimeout) as exc:
            # The body was not fully written, so the server cannot have acted on it.
            raise TransportFailure(f"sending failed: {self._describe(exc)}", "unsent") from None
        except httpx.TimeoutException as exc:
            raise TransportFailure(
                f"no answer in time: {self._describe(exc)}", "in_doubt"
            ) from None
        except httpx.HTTPError as exc:
            message = f"connection lost after sending: {self._describe(exc)}"
            raise TransportFailure(message, "in_doubt") from None

    async def _exchange(
        self, method: str, url: str | httpx.URL, *, cap: int = MAX_BODY_BYTES, **kwargs: Any
    ) -> Answer:
        with self._mapped(), anyio.fail_after(self._deadline):
            async with self._http.stream(method, url, headers=self._headers, **kwargs) as resp:
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > cap:
                        break
                return Answer(
                    resp.status_code,
                    resp.reason_phrase,
                    resp.headers,
                    bytes(body[:cap]),
                    len(body) > cap,
                )

    async def create_session(self, body: Mapping[str, Any]) -> Outcome:
        try:
            sent = create_body(body) if self.generation == "v3" else body
            answer = await self._exchange("POST", self._sessions, json=sent)
        except TransportFailure as exc:
            if exc.phase == "in_doubt":
                return InDoubt(str(exc))
            return RetrySafe(str(exc), sent=False, unreachable=exc.phase == "unreachable")
        return self._classify(answer)

    async def probe(self) -> int:
        """One page of one session: the cheapest authenticated read. The HTTP status, or
        TransportFailure."""
        params = {"first": 1} if self.generation == "v3" else {"limit": 1}
        answer = await self._exchange("GET", self._sessions, params=params)
        return answer.status

    def _classify(self, answer: Answer) -> Outcome:
        status = answer.status
        if 200 <= status < 300:
            if answer.truncated:
                return InDoubt(f"HTTP {status} with an answer over {MAX_BODY_BYTES} bytes", status)
            return self._created(answer)
        message = self._message(answer)
        if 300 <= status < 400:
            # httpx does not follow redirects: the base URL is wrong (http vs https, a path).
            where = self._redact.outside(answer.headers.get("Location", "somewhere else"))
            where = where[:200]
            return Final(f"HTTP {status}: the API redirects to {where}; fix --base-url", status)
        hit = capacity_hit(status, message)
        if hit is not None:
            return AtLimit(f"HTTP {status}: {message}", hit.limit)
        if status in (429, 503):
            retry_after = parse_retry_after(answer.headers.get("Retry-After"))
            return RetrySafe(f"HTTP {status}: {message}", status, retry_after)
        if status in (401, 403):
            return Fatal(f"HTTP {status}: {message}", status)
        if status in (404, 405):
            return Final(self._wrong_address(status), status)
        if 400 <= status < 500:
            return Final(f"HTTP {status}: {message}", status)
        return InDoubt(f"HTTP {status}: {message}", status)

    def _wrong_address(self, status: int) -> str:
        url = self._redact(f"{self._http.base_url}".rstrip("/") + self._sessions)
        other = "v1" if self.generation == "v3" else "v3"
        return (
            f"HTTP {status} from POST {url}: no Devin sessions API there; fix the base URL "
            f"(--base-url, e.g. https://api.devin.ai, without a path) or the API generation "
            f"(--api {other}?); nothing was created"
        )

    def _created(self, answer: Answer) -> Outcome:
        """A 2xx: the session, if the answer has its shape; else a protocol error, in doubt
        (the server may have created it), never a guess recorded as a session."""
        status = answer.status
        try:
            data = answer.json()
        except ValueError:
            return InDoubt(f"HTTP {status} with an answer that is not JSON", status)
        if not isinstance(data, dict):
            return InDoubt(f"HTTP {status} with an answer that is not a JSON object", status)
        problem = (
            session_id_problem(data.get("session_id"), MAX_ID_CHARS)
            or url_problem(data.get("url"), "url", MAX_URL_CHARS)
            or _bool_problem(data.get("is_new_session"))
        )
        if problem is None and self._redact.holds_secret(data["session_id"] + data["url"]):
            problem = "session_id or url carries a secret value"
        if problem is not None:
            # A readable session id is kept: the duplicate check asks for it by id.
            sid = data.get("session_id")
            hint = None
            if isinstance(sid, str) and session_id_problem(sid, MAX_ID_CHARS) is None:
                hint = None if self._redact.holds_secret(sid) else sid
            return InDoubt(f"HTTP {status} with a malformed answer: {problem}", status, hint)
        return Created(data["session_id"], data["url"], data.get("is_new_session"))

    async def find_by_tag(
        self, tag: str, *, since: datetime | None = None, known: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Sessions carrying `tag`, oldest first, the listing paged back past `since` and
        each `known` id asked for (`launcher.api.lookup`). Raises LookupFailed on any doubt."""
        listing: Listing = self
        if self.generation == "v3" and since is not None:
            # v3 filters by creation time: the lookup reads only sessions created since the
            # entry's first send (less the clock skew), whatever the organisation's volume.
            listing = _CreatedAfter(self, int((since - CLOCK_SKEW).timestamp()))
        found = await find_tagged(listing, tag, since=since, known=known)
        for session in found:
            if session_id_problem(session.get("session_id"), MAX_ID_CHARS):
                raise LookupFailed("lookup failed: a matching session has no valid session_id")
            if self._redact.holds_secret(session["session_id"]):
                raise LookupFailed("lookup failed: a session_id carries a secret value")
            url = session.get("url")
            if url_problem(url, "url", MAX_URL_CHARS) or self._redact.holds_secret(str(url)):
                session["url"] = None  # the session stands; a url that cannot is dropped
        return found

    async def lookup_page(
        self, tag: str, cursor: str | None, *, created_after: int | None = None
    ) -> Page:
        """One page of the listing asked to filter by `tag`: v1 pages by offset (`cursor`),
        v3 by the `end_cursor` of the page before (and by `created_after`, if given)."""
        if self.generation == "v3":
            params = lookup_params(tag, LOOKUP_PAGE, cursor, created_after)
            answer = await self._lookup("GET", self._sessions, params=params)
            rows = answer.get("items") if isinstance(answer, dict) else None
            if not isinstance(rows, list):
                raise LookupFailed("lookup failed: unreadable answer")
            return Page(rows, next_cursor(answer))
        offset = int(cursor or 0)
        params = {"tags": tag, "limit": LOOKUP_PAGE, "offset": offset}
        rows = _rows(await self._lookup("GET", self._sessions, params=params))
        if rows is None:
            raise LookupFailed("lookup failed: unreadable answer")
        full = len(rows) >= LOOKUP_PAGE
        return Page(rows, str(offset + len(rows)) if full else None)

    async def lookup_session(self, session_id: str) -> Mapping[str, Any] | None:
        """One session by id, for the duplicate check: None when the API does not know it."""
        path = f"{self._sessions}/{path_segment(session_id)}"
        data = await self._lookup("GET", path, missing_ok=True)
        if data is None:
            return None
        if not isinstance(data, dict):
            raise LookupFailed("lookup failed: unreadable answer")
        return data

    async def _lookup(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        try:
            answer = await self._exchange(method, path, cap=LOOKUP_PAGE_BYTES, params=params)
        except ApiError as exc:
            raise LookupFailed(f"lookup failed: {exc}") from None
        if missing_ok and answer.status == 404:
            return None
        if answer.status != 200:
            raise LookupFailed(f"lookup failed: HTTP {answer.status}: {self._message(answer)}")
        if answer.truncated:
            raise LookupFailed(f"lookup failed: an answer over {LOOKUP_PAGE_BYTES} bytes")
        try:
            return answer.json()
        except ValueError:
            raise LookupFailed("lookup failed: unreadable answer") from None

    def _message(self, answer: Answer) -> str:
        """The API's message, secrets removed, then shortened."""
        return self._redact.outside(api_message(answer))[:MAX_ERROR_CHARS]

    def _describe(self, exc: BaseException) -> str:
        """An httpx error in words, redacted: its text may quote the request's headers."""
        text = str(exc) or type(exc).__name__
        text = f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
        return self._redact.outside(text)[:MAX_ERROR_CHARS]


def _rows(answer: Any) -> list[Any] | None:
    """The rows of a list answer: `{"sessions": [...]}` or, as some report, a bare list."""
    if isinstance(answer, dict):
        answer = answer.get("sessions")
    return answer if isinstance(answer, list) else None


def url_problem(value: object, name: str, limit: int) -> str | None:
    if not isinstance(value, str):
        return f"{name} is {type(value).__name__ if value is not None else 'null'}, not a string"
    if not value or len(value) > limit:
        return f"{name} is empty or longer than {limit} characters"
    if not value.isprintable() or any(c.isspace() for c in value):
        return f"{name} holds spaces or control characters"
    return None


def _bool_problem(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    return f"is_new_session is {type(value).__name__}, not true/false"


def path_segment(session_id: str) -> str:
    """A session id as one path segment: an id from a hostile ledger cannot add path parts."""
    return urllib.parse.quote(session_id, safe="")


class _CreatedAfter:
    """The client's listing bounded by v3's `created_after` filter, for one lookup."""

    def __init__(self, client: DevinClient, created_after: int) -> None:
        self._client, self._after = client, created_after

    async def lookup_page(self, tag: str, cursor: str | None) -> Page:
        return await self._client.lookup_page(tag, cursor, created_after=self._after)

    async def lookup_session(self, session_id: str) -> Mapping[str, Any] | None:
        return await self._client.lookup_session(session_id)
