"""The duplicate check's lookup policy over an in-memory listing: it pages back past the
entry's first send, matches the tag itself, asks for known ids, and never trusts one page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest

from launcher.api.client import DevinClient, Redactor
from launcher.api.lookup import MAX_PAGES, LookupStats, Page, created_at, find_tagged
from launcher.api.outcomes import InDoubt, LookupFailed

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
TAG = "launcher-key-abc"


def row(sid: str, minutes_ago: float, *tags: str) -> dict[str, Any]:
    when = (NOW - timedelta(minutes=minutes_ago)).isoformat()
    return {"session_id": sid, "tags": list(tags), "created_at": when}


class Listing:
    """Rows newest first (unless told otherwise), served 100 a page, tag filter ignored."""

    def __init__(self, rows: Sequence[dict[str, Any]], page: int = 100) -> None:
        self.rows = list(rows)
        self.size = page
        self.by_id = {r["session_id"]: r for r in rows}

    async def lookup_page(self, tag: str, cursor: str | None) -> Page:
        start = int(cursor or 0)
        rows = self.rows[start : start + self.size]
        more = len(rows) == self.size
        return Page(rows, str(start + len(rows)) if more else None)

    async def lookup_session(self, session_id: str) -> Mapping[str, Any] | None:
        return self.by_id.get(session_id)


def find(listing: Listing, **kw: Any) -> tuple[list[str], LookupStats]:
    stats = LookupStats()

    async def go() -> list[dict[str, Any]]:
        return await find_tagged(listing, TAG, stats=stats, **kw)

    return [str(s["session_id"]) for s in anyio.run(go)], stats


def busy(ours_at: int, others: int = 300) -> list[dict[str, Any]]:
    """`others` sessions of other teams, all newer than ours except the tail, ours at
    position `ours_at` (newest first)."""
    rows = [row(f"other-{i}", i * 0.01, "other") for i in range(others)]
    rows.insert(ours_at, row("ours", ours_at * 0.01, "x", TAG))
    return rows


def test_a_session_past_the_first_page_is_found() -> None:
    # The old check read one page of 100 and concluded "absent": a duplicate.
    found, stats = find(Listing(busy(ours_at=250)), since=NOW - timedelta(minutes=1))
    assert found == ["ours"]
    assert stats.pages == 4  # read to the end: every row is within the clock-skew margin


def test_the_listing_is_read_until_it_passes_the_first_send() -> None:
    rows = [row(f"new-{i}", i * 0.01, "other") for i in range(150)]
    rows += [row(f"old-{i}", 60 + i, "other") for i in range(1000)]
    found, stats = find(Listing(rows), since=NOW - timedelta(minutes=5))
    assert found == []
    assert stats.pages == 2  # page 2 holds rows an hour old: nothing further can be ours


def test_absent_is_never_concluded_from_one_full_page() -> None:
    rows = [row(f"other-{i}", 0, "other") for i in range(100)]
    rows.append(row("ours", 0, TAG))
    found, stats = find(Listing(rows), since=NOW)
    assert found == ["ours"] and stats.pages == 2


def test_a_listing_out_of_order_is_read_to_its_end() -> None:
    rows = [row(f"old-{i}", 700 - i, "other") for i in range(100)]  # oldest first...
    rows += [row("ours", 0, TAG)]  # ...so ours comes last
    found, stats = find(Listing(rows), since=NOW - timedelta(minutes=1))
    assert found == ["ours"] and stats.pages == 2


def test_rows_without_a_creation_time_are_read_to_the_end() -> None:
    rows: list[dict[str, Any]] = [{"session_id": f"o{i}", "tags": []} for i in range(100)]
    rows.append(row("ours", 0, TAG))
    found, _ = find(Listing(rows), since=NOW)
    assert found == ["ours"]


def test_the_tag_is_matched_on_our_side() -> None:
    listing = Listing([row("a", 0, "launcher-key-abcd"), row("b", 0, "other")])
    assert find(listing)[0] == []


def test_a_known_session_id_is_asked_for_by_id() -> None:
    hidden = row("ours", 0, TAG)
    listing = Listing([row("other", 0, "other")])
    listing.by_id["ours"] = hidden  # the listing never shows it
    found, stats = find(listing, known=["ours", "ours", "gone"])
    assert found == ["ours"] and stats.gets == 2


def test_a_listing_that_never_ends_is_not_trusted() -> None:
    class Endless(Listing):
        async def lookup_page(self, tag: str, cursor: str | None) -> Page:
            return Page([row("x", 0, "other")], str(int(cursor or 0) + 1))

    with pytest.raises(LookupFailed, match=f"did not end within {MAX_PAGES} pages"):
        find(Endless([]))


def test_duplicates_are_all_returned_oldest_first() -> None:
    rows = [row("second", 1, TAG), row("other", 2, "x"), row("first", 3, TAG)]
    assert find(Listing(rows))[0] == ["first", "second"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-03T09:00:00Z", NOW),
        ("2026-12-03T09:00:00", NOW),
        (NOW.timestamp(), NOW),  # v3: epoch seconds
        (True, None),
        ("yesterday", None),
        (1e30, None),
        (None, None),
    ],
)
def test_created_at_reads_both_generations(value: object, expected: datetime | None) -> None:
    assert created_at({"created_at": value}) == expected


# -- the client's side: one page, one session, as the lookup asks for them (MockTransport)


def client_call(handler: httpx.MockTransport, call: str, *args: Any) -> Any:
    async def go() -> Any:
        async with httpx.AsyncClient(base_url="http://test", transport=handler) as http:
            client = DevinClient(http, "apk_key", Redactor(["apk_key"]))
            return await getattr(client, call)(*args)

    return anyio.run(go)


def test_a_bare_list_answer_is_a_page_and_a_short_page_ends_the_listing() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.params))
        return httpx.Response(200, json=[row("a", 0, TAG)])

    page = client_call(httpx.MockTransport(handler), "lookup_page", TAG, "200")
    assert [r["session_id"] for r in page.rows] == ["a"] and page.next is None
    assert seen == [f"tags={TAG}&limit=100&offset=200"]


def test_a_full_page_points_at_the_next() -> None:
    rows = [row(f"s{i}", 0) for i in range(100)]
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"sessions": rows}))
    assert client_call(transport, "lookup_page", TAG, None).next == "100"


@pytest.mark.parametrize(
    ("status", "body"), [(500, {"detail": "boom"}), (200, {"sessions": 3}), (200, "x")]
)
def test_a_page_that_cannot_be_trusted_fails_the_lookup(status: int, body: Any) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(status, json=body))
    with pytest.raises(LookupFailed):
        client_call(transport, "lookup_page", TAG, None)


def test_an_unknown_session_id_is_none() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(404, json={"detail": "no"}))
    assert client_call(transport, "lookup_session", "devin-x") is None


def test_a_malformed_create_answer_keeps_its_session_id_for_the_lookup() -> None:
    body = {"session_id": "devin-1", "url": "has space"}
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=body))
    outcome = client_call(transport, "create_session", {"prompt": "p"})
    assert isinstance(outcome, InDoubt) and outcome.session_id == "devin-1"


def test_v3_pages_by_cursor() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.path}?{request.url.params}")
        after = request.url.params.get("after")
        body = {"items": [row("a", 0, TAG)], "end_cursor": "c2", "has_next_page": after is None}
        return httpx.Response(200, json=body)

    async def go() -> list[dict[str, Any]]:
        transport = httpx.MockTransport(handler)
        async with httpx.AsyncClient(base_url="http://test", transport=transport) as http:
            client = DevinClient(http, "k", Redactor([]), generation="v3", org="org-1")
            return await client.find_by_tag(TAG)

    assert [s["session_id"] for s in anyio.run(go)] == ["a"]
    assert seen == [
        f"/v3/organizations/org-1/sessions?tags={TAG}&first=100",
        f"/v3/organizations/org-1/sessions?tags={TAG}&first=100&after=c2",
    ]
