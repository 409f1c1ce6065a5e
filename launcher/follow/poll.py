"""One poll: list pages by batch tag (100 rows each), then a single GET only for the
watched sessions no list showed; every request retried with backoff on 429/5xx/no answer."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from launcher.api.outcomes import ApiError, FollowAPI
from launcher.api.retry import RetryPolicy, call
from launcher.follow.status import Observation, normalise

PAGE = 100  # Devin's default page size, and the most a list is asked for
GET_CONCURRENCY = 8
BY_IDS_PAGE = 200  # the API v3's largest page


# A session's last row as the server sent it, and what it was read as: a poll that shows
# the same row again skips reading it (the per-row work of a quiet poll is one comparison).
Memo = dict[str, tuple[Any, Observation]]


def _read(row: Any, sid: str, memo: Memo | None) -> Observation | None:
    """`normalise(row)` (whose session id is `sid`), or the Observation of the same row
    seen at an earlier poll."""
    if memo is not None:
        last = memo.get(sid)
        # The same object when the page came again byte for byte (`FollowClient._page`).
        if last is not None and (last[0] is row or last[0] == row):
            return last[1]
    seen = normalise(row)
    if memo is not None and seen is not None:
        memo[seen.session_id] = (row, seen)
    return seen


@dataclass
class PollResult:
    seen: dict[str, Observation] = field(default_factory=dict)
    # session id -> why its answer could not be used (too large, too deep, not JSON, or
    # no usable answer after the retries): that session's problem, never the others'
    problems: dict[str, str] = field(default_factory=dict)
    lists: int = 0  # list requests made
    gets: int = 0  # single-session requests made


def rows_of(answer: Any) -> list[Any]:
    """The rows of a list answer: `{"sessions": [...]}` or, as some report, a bare list."""
    if isinstance(answer, dict):
        answer = answer.get("sessions")
    if not isinstance(answer, list):
        raise ApiError("the session list answer is neither {sessions: [...]} nor a list", None)
    return answer


async def poll_once(
    api: FollowAPI,
    watched: Mapping[str, str | None],
    expected: Mapping[str, int],
    policy: RetryPolicy,
    ranks: Mapping[str, int] | None = None,
    memo: Memo | None = None,
) -> PollResult:
    """Observe every session of `watched` (session id -> its batch tag or None): only the
    unsettled ones are passed, since a settled one's final state is already recorded.

    `expected[tag]` is how many sessions the ledger says carry a tag, `ranks[id]` a
    session's place in its tag's newest-first listing (from the ledger's order). A tag is
    listed only while that costs fewer requests than one GET per watched session (the
    pages down to the last one watched, when every rank is known); listing stops once
    every watched session of the tag is seen, at a short page, or after `expected` pages
    (plus one), so a server that ignores the filter cannot make a poll endless. With
    `memo` (kept by the caller from poll to poll), a row unchanged since the last poll is
    not read again.
    """
    result = PollResult()
    if getattr(api, "lists_by_ids", False):
        await _list_by_ids(api, list(watched), policy, result, memo)
        missed = [sid for sid in watched if sid not in result.seen]
        if missed:
            await _get_each(api, missed, policy, result)
        return result
    by_tag: dict[str, set[str]] = {}
    for sid, tag in watched.items():
        if tag:
            by_tag.setdefault(tag, set()).add(sid)
    for tag, wanted in by_tag.items():
        pages = math.ceil(max(expected.get(tag, 0), len(wanted)) / PAGE) + 1
        if len(wanted) < _pages_needed(wanted, ranks, pages):
            continue  # fewer sessions left than pages to list: one GET each is cheaper
        offset = 0
        for _ in range(pages):
            try:
                answer = await call(policy, api.list_sessions, tag, PAGE, offset)
            except ApiError as exc:
                if not exc.unreadable:
                    raise
                result.lists += 1
                break  # a page too large or too deep: its sessions are asked one by one
            rows = rows_of(answer)
            result.lists += 1
            for row in rows:
                row_id = _watched_id(row, watched)
                if row_id is None:
                    continue  # settled, or not ours: not worth normalising
                seen = _read(row, row_id, memo)
                if seen is not None:
                    result.seen[seen.session_id] = seen
            if len(rows) < PAGE or wanted <= result.seen.keys():
                break
            offset += PAGE
    missed = [sid for sid in watched if sid not in result.seen]
    if missed:
        await _get_each(api, missed, policy, result)
    return result


async def _list_by_ids(
    api: Any, wanted: list[str], policy: RetryPolicy, result: PollResult, memo: Memo | None
) -> None:
    """The API v3 lists exactly the sessions asked for (`session_ids`, 200 a page): a poll
    costs ceil(unsettled/200) lists, and one more at most if a page says there is more."""
    chunks = [wanted[i : i + BY_IDS_PAGE] for i in range(0, len(wanted), BY_IDS_PAGE)]
    budget = len(chunks) + 1
    for chunk in chunks:
        asked = set(chunk)
        cursor: str | None = None
        while budget > 0:
            rows, cursor = await call(policy, api.list_by_ids, chunk, cursor)
            result.lists += 1
            budget -= 1
            for row in rows:
                row_id = _watched_id(row, asked)
                if row_id is not None:
                    seen = _read(row, row_id, memo)
                    if seen is not None:
                        result.seen[seen.session_id] = seen
            if cursor is None or asked <= result.seen.keys():
                break


def _watched_id(row: Any, watched: Mapping[str, Any] | set[str]) -> str | None:
    """The row's session id when it is one of `watched` (whose ids are sane: the ledger's),
    else None; `session_id_of`'s answer for them, at the cost of a lookup."""
    sid = row.get("session_id") if type(row) is dict else None
    return sid if type(sid) is str and sid in watched else None


def _pages_needed(wanted: set[str], ranks: Mapping[str, int] | None, pages: int) -> int:
    """Pages to list before every wanted session is seen: down to the deepest one's rank
    when all are known (the unsettled are often the newest, on the first pages)."""
    if ranks is None or not wanted <= ranks.keys():
        return pages
    return min(pages, math.ceil((max(ranks[s] for s in wanted) + 1) / PAGE))


async def _get_each(
    api: FollowAPI, missed: list[str], policy: RetryPolicy, result: PollResult
) -> None:
    limiter = anyio.CapacityLimiter(GET_CONCURRENCY)
    errors: list[ApiError] = []

    async def one(sid: str) -> None:
        async with limiter:
            try:
                answer = await call(policy, api.get_session, sid)
            except ApiError as exc:  # kept, so that the caller sees an ApiError, not a group
                errors.append(exc)
                result.problems[sid] = str(exc)
                return
            finally:
                result.gets += 1
        if answer is None:  # 404: the API no longer knows this session
            result.seen[sid] = Observation(sid, "not_found")
            return
        seen = normalise(answer)
        if seen is not None and seen.session_id == sid:
            result.seen[sid] = seen

    async with anyio.create_task_group() as tg:
        for sid in missed:
            tg.start_soon(one, sid)
    # Rejected credentials stop everything; an API that answered nothing usable is an
    # outage. Otherwise each failure is its own session's: the others are kept.
    fatal = [e for e in errors if e.auth] or (errors if not result.seen else [])
    if fatal and not all(e.unreadable for e in fatal):
        raise fatal[0]


def jittered(interval: float, rng: random.Random | None = None) -> float:
    """The interval ±20 %, so that many watchers started together do not poll in step."""
    return interval * (rng or random).uniform(0.8, 1.2)
