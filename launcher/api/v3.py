"""The current Devin API (v3) at the edge: what a create body may carry there, and its
session rows in the shape the rest of the launcher reads (the v1 names, plus
`acus_consumed` and every pull request)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from launcher.api.statuses import v3_status

V1_ONLY = ("idempotent", "snapshot_id", "unlisted")  # not in v3: never sent there
V3_ONLY = (
    "repos",
    "attachment_urls",
    "session_links",
    "bypass_approval",
    "create_as_user_id",
    "child_playbook_id",
    "advanced_mode",
)
PAGE_MAX = 200  # `first` is 1-200


def create_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` as v3's create takes it: the v1-only fields left out."""
    return {k: v for k, v in body.items() if k not in V1_ONLY}


def session_row(row: Any) -> Any:
    """A v3 session as the launcher reads sessions: `status_enum` is the launcher's status
    (statuses.py), `pull_request` the first PR, `pull_requests` all of them as
    {url, state}; anything else is kept. A row that is not an object is returned as is
    (the reader refuses it)."""
    if not isinstance(row, dict):
        return row
    out = dict(row)
    out["status_enum"] = v3_status(row.get("status"), row.get("status_detail"))
    prs = row.get("pull_requests")
    pulls = []
    if isinstance(prs, list):
        for pr in prs[:100]:
            if isinstance(pr, dict) and isinstance(pr.get("pr_url"), str):
                state = pr.get("pr_state")
                pulls.append(
                    {"url": pr["pr_url"], "state": state if isinstance(state, str) else None}
                )
    out["pull_requests"] = pulls
    out["pull_request"] = {"url": pulls[0]["url"]} if pulls else None
    return out


def page_rows(answer: Any) -> tuple[list[Any] | None, str | None]:
    """The rows of one v3 list page (converted) and the cursor of the next page (None at
    the end); (None, None) when the answer is not a page."""
    if not isinstance(answer, dict) or not isinstance(answer.get("items"), list):
        return None, None
    return [session_row(r) for r in answer["items"]], next_cursor(answer)


def next_cursor(page: Mapping[str, Any]) -> str | None:
    """Where the page after `page` starts: its `end_cursor` while `has_next_page`; None
    at the end (or when the cursor is unusable)."""
    after = page.get("end_cursor")
    more = page.get("has_next_page") is True and isinstance(after, str) and bool(after)
    return after if more else None


def lookup_params(
    tag: str, first: int, cursor: str | None, created_after: int | None
) -> dict[str, Any]:
    """The query of one page of the sessions carrying `tag` (created since `created_after`,
    epoch seconds, if given), from `cursor` on."""
    params: dict[str, Any] = {"tags": tag, "first": first}
    if created_after is not None:
        params["created_after"] = created_after
    if cursor is not None:
        params["after"] = cursor
    return params


_MESSAGE_TYPE = {"devin": "devin_message", "user": "user_message"}


def message_page(answer: Any, first: bool) -> tuple[list[Any] | None, str | None]:
    """The messages of one page of a session's messages list, read as v1 names them
    (`message_item`; `first`: this page opens the conversation), and the cursor of the
    next page (None at the end); (None, None) when the answer is not a page."""
    if not isinstance(answer, dict) or not isinstance(answer.get("items"), list):
        return None, None
    items = [message_item(m, first and i == 0) for i, m in enumerate(answer["items"])]
    return items, next_cursor(answer)


def message_item(item: Any, first: bool) -> Any:
    """A v3 message `{source, message, created_at, event_id}` as v1 lists one: `type`
    from `source` (the conversation's first message, from the user, is its prompt:
    `initial_user_message`), `timestamp` in ISO 8601 UTC. Not an object: returned as is
    (the reader skips it)."""
    if not isinstance(item, dict):
        return item
    source = item.get("source")
    kind = _MESSAGE_TYPE.get(source, source) if isinstance(source, str) else "message"
    if first and kind == "user_message":
        kind = "initial_user_message"
    return {"type": kind, "message": item.get("message"), "timestamp": _iso(item.get("created_at"))}


def _iso(epoch: Any) -> str:
    if isinstance(epoch, bool) or not isinstance(epoch, int | float):
        return ""
    try:
        return datetime.fromtimestamp(epoch, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return ""
