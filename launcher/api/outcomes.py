"""What one API call came to, as values: create turns every httpx error and HTTP status
into one of the outcomes below; every other call answers or raises ApiError. The
dispatcher and follow-through reason about nothing else."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Created:
    session_id: str
    url: str | None  # None when found by a lookup whose answer had no url
    is_new_session: bool | None


@dataclass(frozen=True)
class RetrySafe:
    """The server did not act on the request (429, 503, not sent): send it again."""

    error: str
    status: int | None = None
    retry_after: float | None = None  # seconds the server asked us to wait
    sent: bool = True  # False: the request never reached the server (nothing to wait out)
    unreachable: bool = False  # no connection at all: DNS, refused, TLS (a wrong address?)


@dataclass(frozen=True)
class InDoubt:
    """The server may have created the session (500, 502, 504, lost mid-response)."""

    error: str
    status: int | None = None
    session_id: str | None = None  # a session id the unusable answer did carry


@dataclass(frozen=True)
class Final:
    """The API refused the request for good (other 4xx); its message is kept."""

    error: str
    status: int
    # Given up because the server asked to wait longer than --max-wait: that wait, so the
    # `failed` line keeps its `retry_at` and a run started at once still honours it.
    retry_after: float | None = None

    @property
    def wrong_address(self) -> bool:
        """A 404 or 405 on create: no sessions API here (a wrong base URL or generation);
        the request took no effect."""
        return self.status in (404, 405)


@dataclass(frozen=True)
class Fatal:
    """The API rejected the credentials (401/403): the whole run stops."""

    error: str
    status: int


@dataclass(frozen=True)
class AtLimit:
    """A capacity 429: the organisation runs as many sessions as it may. Not a throttle,
    not an attempt: it clears only when sessions end, so the entry stays pending."""

    error: str
    limit: int | None  # the limit, when the message says it


Outcome = Created | RetrySafe | InDoubt | Final | Fatal | AtLimit


class ApiError(Exception):
    """A call other than create got no usable answer: the client's one error type."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
        *,
        unreadable: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        # An answer came, but too large, too deeply nested or not JSON: a problem of the
        # one session (or page) asked for, never of the others.
        self.unreadable = unreadable

    @property
    def transient(self) -> bool:
        """Worth asking again later: no answer, a throttle or a server error."""
        if self.unreadable:
            return False  # the same answer again
        return self.status is None or self.status in (408, 429) or self.status >= 500

    @property
    def auth(self) -> bool:
        return self.status in (401, 403)


class LookupFailed(ApiError):
    """The lookup by tag did not give an answer we can trust."""


class SessionsAPI(Protocol):
    """What dispatch asks of the API (`launcher.api.client.DevinClient`, or a test's fake)."""

    async def create_session(self, body: Mapping[str, Any]) -> Outcome: ...

    async def find_by_tag(
        self, tag: str, *, since: datetime | None = None, known: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Sessions carrying `tag`, oldest first: the listing read back past `since` (the
        entry's first send), each `known` session id asked for. LookupFailed on any doubt."""
        ...

    async def lookup_session(self, session_id: str) -> Mapping[str, Any] | None:
        """One session by id, None when the API does not know it; LookupFailed on doubt."""
        ...


class FollowAPI(Protocol):
    """What follow-through asks of the API; every call raises ApiError when it gets no
    usable answer (`launcher.api.client.DevinClient`, or a test's fake)."""

    async def list_sessions(self, tag: str, limit: int, offset: int) -> Any: ...
    async def get_session(self, session_id: str) -> Any: ...
    async def delete_session(self, session_id: str) -> str: ...
    async def send_message(self, session_id: str, text: str) -> None: ...
