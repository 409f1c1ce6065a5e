"""Factories and a fake API for the follow-through unit tests: an entry with a structured
output schema, a target in a given status, and `FakeApi`, which answers session lists by
tag and counts every call."""

from __future__ import annotations

from typing import Any

from launcher.api.outcomes import ApiError
from launcher.api.retry import RetryPolicy
from launcher.entry import Entry
from launcher.follow.targets import Target

SCHEMA = {
    "type": "object",
    "required": ["ok"],
    "properties": {"ok": {"type": "boolean"}, "when": {"type": "string", "format": "date"}},
}
FAST = RetryPolicy(attempts=3, initial=0.01, longest=0.02)


def entry(name: str, schema: Any = SCHEMA) -> Entry:
    request: dict[str, Any] = {"prompt": f"do {name}"}
    if schema is not None:
        request["structured_output_schema"] = schema
    return Entry(name=name, file="m.yaml", path="m.yaml", line=1, request=request)


def target(status: str | None, valid: bool | None = True, schema: Any = SCHEMA) -> Target:
    return Target(entry(f"e-{status}", schema), session_id="s", status=status, output_valid=valid)


class FakeApi:
    """Sessions by tag; answers pages as `shape` and counts every call."""

    def __init__(self, rows: dict[str, list[dict[str, Any]]], shape: str = "object") -> None:
        self.rows, self.shape = rows, shape
        self.lists: list[tuple[str, int, int]] = []
        self.gets: list[str] = []
        self.fail_next = 0

    async def list_sessions(self, tag: str, limit: int, offset: int) -> Any:
        self.lists.append((tag, limit, offset))
        if self.fail_next:
            self.fail_next -= 1
            raise ApiError("HTTP 503: busy", 503)
        page = self.rows.get(tag, [])[offset : offset + limit]
        return page if self.shape == "bare" else {"sessions": page}

    async def get_session(self, session_id: str) -> Any:
        self.gets.append(session_id)
        return None if session_id == "gone" else {"session_id": session_id, "status": "finished"}

    async def delete_session(self, session_id: str) -> str:
        return "terminated"

    async def send_message(self, session_id: str, text: str) -> None:
        return None
