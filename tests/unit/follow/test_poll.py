"""One poll: list shapes, paging by batch tag, gets only for what the lists missed, retries,
and the memo that skips rows unchanged since the last poll."""

from __future__ import annotations

import json
import math
from typing import Any

import anyio
import pytest

from launcher.api.outcomes import ApiError
from launcher.follow.poll import Memo, poll_once, rows_of
from tests.support.followkit import FAST, FakeApi


@pytest.mark.parametrize("shape", ["object", "bare"])
def test_poll_pages_by_tag_and_gets_only_what_lists_missed(shape: str) -> None:
    rows = [{"session_id": f"s{i}", "status_enum": "working"} for i in range(250)]
    api = FakeApi({"launcher-batch:r1": rows}, shape)
    watched: dict[str, str | None] = {f"s{i}": "launcher-batch:r1" for i in range(250)}
    watched["lost"] = None  # carries no batch tag
    watched["gone"] = "launcher-batch:r1"  # not in any list; the API says 404
    result = anyio.run(poll_once, api, watched, {"launcher-batch:r1": 251}, FAST)
    assert [offset for _, _, offset in api.lists] == [0, 100, 200]
    assert sorted(api.gets) == ["gone", "lost"]
    assert result.seen["gone"].status == "not_found" and result.seen["s249"].status == "working"


def test_poll_stops_listing_once_every_watched_session_is_seen() -> None:
    rows = [{"session_id": f"s{i}"} for i in range(1000)]
    api = FakeApi({"t": rows})
    watched: dict[str, str | None] = {f"s{i}": "t" for i in range(100, 150)}
    anyio.run(poll_once, api, watched, {"t": 1000}, FAST)
    assert len(api.lists) == 2 and not api.gets


@pytest.mark.parametrize("unsettled", [1000, 550, 120, 30, 5])
def test_poll_costs_ceil_unsettled_over_100_when_the_unsettled_are_the_newest(
    unsettled: int,
) -> None:
    # Listed newest first, as Devin does; the oldest settled first (as under --max-active),
    # so the unsettled are on the first pages and the settled need no re-read.
    rows = [{"session_id": f"s{i}"} for i in reversed(range(1000))]
    api = FakeApi({"t": rows})
    watched: dict[str, str | None] = {f"s{i}": "t" for i in range(1000 - unsettled, 1000)}
    ranks = {f"s{i}": 999 - i for i in range(1000)}
    result = anyio.run(poll_once, api, watched, {"t": 1000}, FAST, ranks)
    assert len(api.lists) == math.ceil(unsettled / 100) and not api.gets
    assert result.seen.keys() == watched.keys()


def test_poll_gets_each_when_the_few_unsettled_are_deep_in_the_listing() -> None:
    rows = [{"session_id": f"s{i}"} for i in reversed(range(1000))]
    api = FakeApi({"t": rows})
    scattered = ["s3", "s250", "s500", "s990"]
    ranks = {f"s{i}": 999 - i for i in range(1000)}
    anyio.run(poll_once, api, dict.fromkeys(scattered, "t"), {"t": 1000}, FAST, ranks)
    assert not api.lists and sorted(api.gets) == sorted(scattered)


def test_poll_gets_each_when_fewer_are_left_than_pages() -> None:
    api = FakeApi({"t": [{"session_id": f"s{i}"} for i in range(1000)]})
    result = anyio.run(poll_once, api, {"s1": "t", "s999": "t"}, {"t": 1000}, FAST)
    assert not api.lists and sorted(api.gets) == ["s1", "s999"] and len(result.seen) == 2


def test_poll_cannot_page_forever_when_the_filter_is_ignored() -> None:
    rows = [{"session_id": f"other{i}"} for i in range(10_000)]
    api = FakeApi({"t": rows})
    watched: dict[str, str | None] = {f"s{i}": "t" for i in range(5)}
    anyio.run(poll_once, api, watched, {"t": 5}, FAST)
    assert len(api.lists) == 2 and len(api.gets) == 5


def test_poll_retries_a_503() -> None:
    api = FakeApi({"t": [{"session_id": "s1", "status": "blocked"}]})
    api.fail_next = 2
    watched: dict[str, str | None] = {"s1": "t", "s2": "t"}
    result = anyio.run(poll_once, api, watched, {"t": 1}, FAST)
    assert result.seen["s1"].status == "blocked" and len(api.lists) == 3


def test_rows_of_rejects_other_shapes() -> None:
    with pytest.raises(ApiError):
        rows_of({"items": []})
    assert rows_of([{"a": 1}]) == [{"a": 1}]


class FreshRows(FakeApi):
    """Each page decoded anew, as from the wire: equal rows, never the same objects."""

    async def list_sessions(self, tag: str, limit: int, offset: int) -> Any:
        return json.loads(json.dumps(await super().list_sessions(tag, limit, offset)))


def test_a_row_unchanged_since_the_last_poll_is_not_read_again() -> None:
    rows = [{"session_id": f"s{i}", "status_enum": "working"} for i in range(150)]
    api = FreshRows({"t": rows})
    watched: dict[str, str | None] = dict.fromkeys((f"s{i}" for i in range(150)), "t")
    memo: Memo = {}
    first = anyio.run(poll_once, api, watched, {"t": 150}, FAST, None, memo)
    rows[7] = {"session_id": "s7", "status_enum": "finished", "structured_output": {"a": 1}}
    second = anyio.run(poll_once, api, watched, {"t": 150}, FAST, None, memo)
    assert all(second.seen[s] is first.seen[s] for s in watched if s != "s7")
    assert second.seen["s7"].status == "finished" and first.seen["s7"].status == "working"
    assert memo["s7"][1] is second.seen["s7"]
    without = anyio.run(poll_once, api, watched, {"t": 150}, FAST)
    assert without.seen["s1"] is not second.seen["s1"] and without.seen["s1"] == second.seen["s1"]
