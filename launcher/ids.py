"""What a session id from outside (an answer, a ledger line) must be before it is used in
a request path or recorded: `.` or `..` would make `/v1/sessions/{id}` another API path."""

from __future__ import annotations

import re

# A letter or a digit (Unicode), as str.isalnum has it: one regex search instead of a
# Python-level loop over every character, for every row of every poll.
_ALNUM = re.compile(r"[^\W_]")


def session_id_problem(value: object, limit: int) -> str | None:
    """Why `value` is not a usable session id, or None: a string of 1 to `limit` printable
    characters, no spaces, at least one letter or digit."""
    if not isinstance(value, str):
        return (
            f"session_id is {type(value).__name__ if value is not None else 'null'}, not a string"
        )
    if not value or len(value) > limit:
        return f"session_id is empty or longer than {limit} characters"
    # isprintable() is False for every whitespace character but the ASCII space.
    if not value.isprintable() or " " in value:
        return "session_id holds spaces or control characters"
    if not names_something(value):
        return "session_id has no letter or digit"
    return None


def names_something(session_id: str) -> bool:
    """Whether the id has a letter or a digit: the rule that also holds for ledger lines
    (which may keep, escaped when shown, ids an older launcher accepted)."""
    return _ALNUM.search(session_id) is not None
