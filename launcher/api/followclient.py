"""The calls beside create and look up: list, get, terminate and message (follow-through),
and attachment uploads, as answers or ApiError, never httpx errors. v3's rows are read as
v1 names (`launcher.api.v3`)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import httpx

from launcher import jsonio
from launcher.api.answer import MAX_BODY_BYTES, Answer, parse_retry_after
from launcher.api.client import MAX_URL_CHARS, DevinClient, path_segment, url_problem
from launcher.api.outcomes import ApiError
from launcher.api.v3 import PAGE_MAX, message_page, page_rows, session_row

__all__ = ["FollowClient"]

# A list page larger than this is read again one session at a time (`launcher.follow.poll`),
# and one session's larger answer is that session's problem.
MAX_PAGE_BYTES = MAX_BODY_BYTES
# List pages whose reading is kept (by request), for when the same bytes come again: a
# watch of 100,000 sessions asks for 1,000 pages a poll.
MAX_PAGES_KEPT = 2048
T = TypeVar("T")


class FollowClient(DevinClient):
    """The follow-through calls beside create and look up: list, get, terminate
    and message, as answers or ApiError, never httpx errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # request -> (its URL, the digest of the page's bytes, what they were read as)
        self._pages: OrderedDict[str, tuple[httpx.URL, bytes, Any]] = OrderedDict()

    @property
    def lists_by_ids(self) -> bool:
        """Whether the listing filters by session ids (v3): a poll then asks for exactly
        the sessions it watches, PAGE_MAX a page."""
        return self.generation == "v3"

    async def list_sessions(self, tag: str, limit: int, offset: int) -> Any:
        """One page of GET /v1/sessions filtered by `tag`: the decoded JSON, unchecked."""
        params = {"tags": tag, "limit": limit, "offset": offset}
        return await self._page("/v1/sessions", params, lambda page: page)

    async def list_by_ids(self, session_ids: Sequence[str], cursor: str | None = None) -> Any:
        """One v3 page of the sessions `session_ids` (at most PAGE_MAX): (rows, the next
        page's cursor or None); ApiError when the answer is not a page."""
        params: dict[str, Any] = {"session_ids": list(session_ids), "first": PAGE_MAX}
        if cursor is not None:
            params["after"] = cursor
        rows, after = await self._page(self._sessions, params, page_rows)
        if rows is None:
            raise ApiError("the session list answer is not a page {items: [...]}", None)
        return rows, after

    async def _page(self, path: str, params: Mapping[str, Any], read: Callable[[Any], T]) -> T:
        """A list page, read by `read` from its JSON; or, when the server answers the same
        request with the very bytes it sent last time, what they were read as then: the
        same objects, which a poll that changes nothing recognises at a glance."""
        key = path + repr(sorted(params.items()))
        last = self._pages.get(key)
        # The URL as httpx builds it from the base URL, the path and the query: built once
        # per page, since building it again costs a fifth of the request.
        url = self._http.build_request("GET", path, params=params).url if last is None else last[0]
        answer = await self._answer("GET", url)
        digest = hashlib.blake2b(answer.body, digest_size=16).digest()
        if last is not None and last[1] == digest:
            self._pages.move_to_end(key)
            return cast(T, last[2])
        value = read(self._decode(answer))
        self._pages[key] = (url, digest, value)
        if len(self._pages) > MAX_PAGES_KEPT:
            self._pages.popitem(last=False)  # the page asked for least recently
        return value

    async def get_session(self, session_id: str) -> Any:
        """GET one session: the decoded JSON (a v3 row read as v1 names), or None when the
        API does not know it."""
        found = await self._json("GET", self._one(session_id), missing_ok=True)
        return session_row(found) if self.generation == "v3" else found

    @property
    def pages_messages(self) -> bool:
        """Whether a session's messages are a list of their own, in pages (v3), rather
        than part of the session (v1)."""
        return self.generation == "v3"

    async def messages_page(
        self, session_id: str, cursor: str | None, first: bool = False
    ) -> tuple[list[Any], str | None]:
        """One page of GET …/sessions/{id}/messages (v3), oldest first, PAGE_MAX a page,
        each message read as v1 names it (`first`: this page opens the conversation):
        (messages, the next page's cursor or None); ApiError when it is not a page."""
        params: dict[str, Any] = {"first": PAGE_MAX}
        if cursor is not None:
            params["after"] = cursor
        path = self._one(session_id) + "/messages"
        said, after = message_page(await self._json("GET", path, params=params), first)
        if said is None:
            raise ApiError("the messages answer is not a page {items: [...]}", unreadable=True)
        return said, after

    def _one(self, session_id: str) -> str:
        return f"{self._sessions}/{path_segment(session_id)}"

    async def delete_session(self, session_id: str) -> str:
        """Terminate a session: "terminated", or "already exited" (422), or ApiError."""
        try:
            await self._json("DELETE", self._one(session_id))
        except ApiError as exc:
            if exc.status == 422:
                return "already exited"
            raise
        return "terminated"

    async def send_message(self, session_id: str, text: str) -> None:
        """POST …/sessions/{id}/message (v3: /messages); ApiError when not accepted."""
        path = self._one(session_id) + ("/messages" if self.generation == "v3" else "/message")
        await self._json("POST", path, body={"message": text})

    async def upload_attachment(self, name: str, content: bytes) -> str:
        """POST one file (multipart `file`) to the attachments endpoint: the URL a session
        reads it at (v1 answers it as text, v3 as `{url}`); ApiError otherwise."""
        if self.generation == "v3":
            path = self._sessions.removesuffix("/sessions") + "/attachments"
        else:
            path = "/v1/attachments"
        try:
            answer = await self._exchange("POST", path, files={"file": (name, content)})
        except ApiError as exc:
            raise ApiError(f"upload failed: {exc}") from None
        if not 200 <= answer.status < 300 or answer.truncated:
            retry = parse_retry_after(answer.headers.get("Retry-After"))
            message = self._message(answer)
            raise ApiError(f"upload: HTTP {answer.status}: {message}", answer.status, retry)
        url: object = answer.text.strip()
        try:
            data = jsonio.loads(answer.body)  # v3 `{url}`; a v1 text may be a JSON string
            url = data.get("url") if isinstance(data, dict) else data
        except ValueError:
            pass
        problem = url_problem(url, "the upload's url", MAX_URL_CHARS)
        if problem is None and (
            not str(url).startswith(("https://", "http://")) or '"' in str(url)
        ):
            problem = "the upload's url is not an http(s) URL"
        if problem is None and self._redact.holds_secret(str(url)):
            problem = "the upload's url carries a secret value"
        if problem is not None:
            raise ApiError(f"upload: HTTP {answer.status}: {problem}", answer.status)
        return str(url)

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> Any:
        """The decoded JSON of a 2xx answer (None for none, or for a 404 when `missing_ok`);
        ApiError otherwise."""
        answer = await self._answer(method, path, params=params, body=body)
        if missing_ok and answer.status == 404:
            return None
        return self._decode(answer)

    async def _answer(
        self,
        method: str,
        path: str | httpx.URL,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Answer:
        """A whole answer within MAX_PAGE_BYTES, 2xx (or 404); ApiError otherwise."""
        try:
            answer = await self._exchange(
                method, path, cap=MAX_PAGE_BYTES, params=params, json=body
            )
        except ApiError as exc:
            raise ApiError(f"{method} failed: {exc}") from None
        status = answer.status
        if answer.truncated and 200 <= status < 300:
            raise ApiError(
                f"HTTP {status}: answer over {MAX_PAGE_BYTES:,} bytes; not read",
                status,
                unreadable=True,
            )
        if answer.truncated:
            raise ApiError(f"HTTP {status}: answer over {MAX_PAGE_BYTES:,} bytes", status)
        if not 200 <= status < 300 and status != 404:
            retry = parse_retry_after(answer.headers.get("Retry-After"))
            raise ApiError(f"HTTP {status}: {self._message(answer)}", status, retry)
        return answer

    def _decode(self, answer: Answer) -> Any:
        """The JSON of a 2xx answer; ApiError for a 404 or what is not JSON."""
        status = answer.status
        if status == 404:
            raise ApiError(f"HTTP {status}: {self._message(answer)}", status)
        try:
            return answer.json() if answer.body else None
        except ValueError as exc:
            raise ApiError(f"HTTP {status}: the answer is {exc}", status, unreadable=True) from None
