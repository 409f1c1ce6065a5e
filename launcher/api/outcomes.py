"""What one API call came to, as values: the client turns every httpx error and HTTP status
into one of these, and the dispatcher reasons about nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Final:
    """The API refused the request for good (other 4xx); its message is kept."""

    error: str
    status: int


@dataclass(frozen=True)
class Fatal:
    """The API rejected the credentials (401/403): the whole run stops."""

    error: str
    status: int


Outcome = Created | RetrySafe | InDoubt | Final | Fatal


class LookupFailed(Exception):
    """A GET /v1/sessions lookup did not give an answer we can trust."""


class SessionsAPI(Protocol):
    """What dispatch asks of the API (`launcher.api.client.DevinClient`, or a test's fake)."""

    async def create_session(self, body: Mapping[str, Any]) -> Outcome: ...

    async def find_by_tag(self, tag: str) -> list[dict[str, Any]]:
        """Sessions carrying `tag`, oldest first. Raises LookupFailed on any doubt."""
        ...
