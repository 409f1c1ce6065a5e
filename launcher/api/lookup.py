"""The duplicate check's lookup: every session that carries an entry's tag, found by
paging the listing back past the entry's first send, filtering on our side as well, and
asking for each session id already known. Never "absent" from one page of a busy listing.

The listing's tag filter may be ignored and its order is not documented: a listing that
is not newest first is read to its end, and a tag is matched on each row here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from launcher.api.outcomes import LookupFailed

MAX_PAGES = 500  # 50,000 sessions: past this the listing is not trusted to end
# The server's clock and ours may disagree: a session is taken to be older than the
# entry's first send only when its created_at is older by more than this.
CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class Page:
    """One page of the listing: its rows, unchecked, and where the next page starts."""

    rows: Sequence[Any]
    next: str | None  # None: the listing ends here


class Listing(Protocol):
    """What the lookup asks of the API (`launcher.api.client.DevinClient`)."""

    async def lookup_page(self, tag: str, cursor: str | None) -> Page:
        """One page of sessions asked for by `tag`; LookupFailed on any doubt."""
        ...

    async def lookup_session(self, session_id: str) -> Mapping[str, Any] | None:
        """One session by id, None when the API does not know it; LookupFailed on doubt."""
        ...


@dataclass
class LookupStats:
    """What a lookup cost, for the tests and the benchmarks."""

    pages: int = 0
    gets: int = 0


async def find_tagged(
    listing: Listing,
    tag: str,
    *,
    since: datetime | None = None,
    known: Sequence[str] = (),
    stats: LookupStats | None = None,
) -> list[dict[str, Any]]:
    """Every session carrying `tag`, oldest first. `since`: the entry's first send (the
    listing is read until it passes it, less CLOCK_SKEW, or ends); `known`: session ids
    to ask for one by one. Raises LookupFailed when the answer cannot be trusted."""
    stats = stats if stats is not None else LookupStats()
    found: dict[str, dict[str, Any]] = {}
    for session_id in dict.fromkeys(known):
        stats.gets += 1
        session = await listing.lookup_session(session_id)
        if session is not None and _carries(session, tag):
            found.setdefault(session_id, dict(session))
    horizon = since - CLOCK_SKEW if since is not None else None
    newest_first = True
    previous: datetime | None = None
    cursor: str | None = None
    while True:
        if stats.pages >= MAX_PAGES:
            raise LookupFailed(f"lookup failed: the listing did not end within {MAX_PAGES} pages")
        page = await listing.lookup_page(tag, cursor)
        stats.pages += 1
        passed = False
        for row in page.rows:
            if not isinstance(row, dict):
                continue
            if _carries(row, tag):
                found.setdefault(str(row.get("session_id")), row)
            created = created_at(row)
            if created is None or (previous is not None and created > previous):
                newest_first = False  # no order to rely on: read the listing to its end
            previous = created
            if horizon is not None and created is not None and created < horizon:
                passed = True
        if page.next is None or not page.rows:
            break
        if passed and newest_first:
            break
        cursor = page.next
    return sorted(found.values(), key=lambda s: str(s.get("created_at", "")))


def _carries(session: Mapping[str, Any], tag: str) -> bool:
    tags = session.get("tags")
    return isinstance(tags, list) and tag in tags


def created_at(row: Mapping[str, Any]) -> datetime | None:
    """A row's creation time: ISO text (v1) or epoch seconds (v3); None if unreadable."""
    value = row.get("created_at")
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None
