"""Bodies of the follow-through routes (message, tags) and of the test-only control
route, parsed into values or FastAPI-style 422 `detail` items."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from launcher.sandbox.life import OUTPUT_MODES, SETTLED, WORKING
from launcher.sandbox.problems import Problem, parse_json

MAX_TAGS = 50  # Devin's documented limit on a session's tags
CONTROL_FIELDS = ("status", "remaining", "end", "output", "pr")


def _problem(name: str | None, msg: str, kind: str) -> Problem:
    return {"loc": ["body", *([name] if name else [])], "msg": msg, "type": kind}


def _object(raw: bytes) -> tuple[dict[str, Any], list[Problem]]:
    data, bad = parse_json(raw)
    if bad is not None:
        return {}, [bad]
    if not isinstance(data, dict):
        return {}, [_problem(None, "Input should be a valid dictionary", "dict_type")]
    return data, []


def parse_message(raw: bytes) -> tuple[str, list[Problem]]:
    """`{"message": "..."}` → the text."""
    data, problems = _object(raw)
    if problems:
        return "", problems
    text = data.get("message")
    if "message" not in data:
        return "", [_problem("message", "Field required", "missing")]
    if not isinstance(text, str):
        return "", [_problem("message", "Input should be a valid string", "string_type")]
    return text, []


def parse_tags(raw: bytes) -> tuple[list[str], list[Problem]]:
    """`{"tags": [...]}` → the new tags (at most 50 strings)."""
    data, problems = _object(raw)
    if problems:
        return [], problems
    if "tags" not in data:
        return [], [_problem("tags", "Field required", "missing")]
    tags = data["tags"]
    if not isinstance(tags, list):
        return [], [_problem("tags", "Input should be a valid list", "list_type")]
    problems = [
        {"loc": ["body", "tags", i], "msg": "Input should be a valid string", "type": "string_type"}
        for i, tag in enumerate(tags)
        if not isinstance(tag, str)
    ]
    if len(tags) > MAX_TAGS:
        problems.append(_problem("tags", f"List should have at most {MAX_TAGS} items", "too_long"))
    return [t for t in tags if isinstance(t, str)], problems


@dataclass(frozen=True)
class Control:
    """What a test asks of one session through POST /_sandbox/sessions/{id}."""

    status: str | None = None  # working, or settle now as finished / blocked / expired
    remaining: float | None = None  # seconds of work left from now (wakes a settled one)
    end: str | None = None  # how the current work period settles
    output: str | None = None  # valid / invalid / none
    pr: bool | None = None  # show a pull request when finished or blocked


def parse_control(raw: bytes) -> tuple[Control, list[Problem]]:
    data, problems = _object(raw)
    if problems:
        return Control(), problems
    for name in data:
        if name not in CONTROL_FIELDS:
            problems.append(_problem(name, "Extra inputs are not permitted", "extra_forbidden"))
    status, end, output = data.get("status"), data.get("end"), data.get("output")
    remaining, pr = data.get("remaining"), data.get("pr")
    choices = (("status", status, (WORKING, *SETTLED)), ("end", end, SETTLED))
    for name, value, allowed in (*choices, ("output", output, OUTPUT_MODES)):
        if value is not None and value not in allowed:
            wording = ", ".join(f"'{a}'" for a in allowed)
            problems.append(_problem(name, f"Input should be {wording}", "enum"))
    if remaining is not None and not (
        isinstance(remaining, (int, float))
        and not isinstance(remaining, bool)
        and 0 <= remaining < math.inf
    ):
        problems.append(
            _problem("remaining", "Input should be a number >= 0", "greater_than_equal")
        )
    if pr is not None and not isinstance(pr, bool):
        problems.append(_problem("pr", "Input should be a valid boolean", "bool_type"))
    if status in SETTLED and remaining is not None:
        msg = "remaining applies to working sessions; a settled status ends the work now"
        problems.append(_problem("remaining", msg, "value_error"))
    if problems:
        return Control(), problems
    return Control(
        status=status,
        remaining=float(remaining) if remaining is not None else None,
        end=end,
        output=output,
        pr=pr,
    ), []
