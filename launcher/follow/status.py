"""What a session row from the API says, made safe (type-checked, bounded, escaped), and
the rules for when an entry has settled and whether it ended well."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from launcher.api.statuses import v1_status
from launcher.ids import session_id_problem
from launcher.text import printable

MAX_ID_CHARS = 200
MAX_STATUS_CHARS = 40
MAX_URL_CHARS = 2000
MAX_OUTPUT_BYTES = 64 * 1024  # as large as an output schema may be; larger is not kept

# Devin documents no terminal value; these are what batch tools treat as settled.
# `stopped`, `failed` and `error` are seen in public reports after a termination;
# `not_found` is ours: a GET answered 404.
# The API v3's are mapped onto these and `awaiting_approval`, `sleeping`, `acu_limit`
# and `out_of_credits` (`launcher.api.statuses`).
SETTLED = frozenset(
    {
        "finished",
        "expired",
        "blocked",
        "stopped",
        "failed",
        "error",
        "not_found",
        "awaiting_approval",
        "sleeping",
        "acu_limit",
        "out_of_credits",
    }
)
# A message can wake a blocked, waiting or sleeping session; nothing wakes these.
FINAL = SETTLED - {"blocked", "awaiting_approval", "sleeping"}


def _short_str(value: Any, limit: int) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return printable(value, limit)


@dataclass(frozen=True)
class Observation:
    """One session as the API showed it, normalised. `status` is never empty."""

    session_id: str
    status: str
    structured_output: Any = None
    pull_request_url: str | None = None
    output_dropped: str | None = None  # why the output was not kept (too large, not JSON)
    output_text: str | None = None  # the output as JSON text: the same text, the same value
    pull_requests: tuple[str, ...] = ()  # every PR it opened (v1 shows one)
    acus: float | None = None  # ACUs consumed so far, where the API says (v3)

    @property
    def settled(self) -> bool:
        return self.status in SETTLED


def session_id_of(row: Any) -> str | None:
    """The row's session id if it is a sane string, else None (the row is ignored)."""
    if not isinstance(row, dict):
        return None
    sid = row.get("session_id")
    if session_id_problem(sid, MAX_ID_CHARS) is not None:
        return None
    assert isinstance(sid, str)
    return sid


def normalise(row: Any) -> Observation | None:
    """An Observation from a hostile row, or None when the row has no usable session id."""
    sid = session_id_of(row)
    if sid is None:
        return None
    assert isinstance(row, dict)
    # status_enum may be null on Devin; then `status` says it.
    raw = row.get("status_enum") or row.get("status")
    status = _short_str(raw, MAX_STATUS_CHARS)
    status = v1_status(status.strip().lower()) if status else "unknown"
    pr = row.get("pull_request")
    pr_url = pr_url_of(_short_str(pr.get("url") if isinstance(pr, dict) else pr, MAX_URL_CHARS))
    output, dropped, text = bounded_output(row.get("structured_output"))
    prs = _pull_requests(row.get("pull_requests"), pr_url)
    acus = _acus(row.get("acus_consumed"))
    return Observation(
        sid, status or "unknown", output, prs[0] if prs else None, dropped, text, prs, acus
    )


MAX_PULL_REQUESTS = 50


def _pull_requests(value: Any, first: str | None) -> tuple[str, ...]:
    """Every PR URL of a row (`pull_requests`: [{url}] as the client reads v3), bounded."""
    urls = [first] if first else []
    if isinstance(value, list):
        for pr in value[:MAX_PULL_REQUESTS]:
            url = pr_url_of(
                _short_str(pr.get("url") if isinstance(pr, dict) else pr, MAX_URL_CHARS)
            )
            if url and url not in urls:
                urls.append(url)
    return tuple(urls)


def _acus(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return round(number, 3) if 0 <= number < 1e9 else None


NOT_A_URL = "not a URL"


def pr_url_of(value: Any) -> str | None:
    """A PR URL as kept and exported: only `http://` and `https://` ones (the agent writes
    it: a `javascript:` or `file:` URL must never become a link); anything else is
    NOT_A_URL."""
    if not isinstance(value, str) or not value:
        return None
    if value.lower().startswith(("https://", "http://")) and value.isprintable():
        return value
    return NOT_A_URL


def redact_json(value: Any, redact: Callable[[str], str]) -> Any:
    """`value` with every string (keys too) passed through `redact`."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_json(v, redact) for v in value]
    if isinstance(value, dict):
        return {redact(str(k)): redact_json(v, redact) for k, v in value.items()}
    return value


def bounded_output(value: Any) -> tuple[Any, str | None, str | None]:
    """(the structured output if it is JSON of at most 64 KB, else None; why not; the JSON
    text it measured, the same for the same value)."""
    if value is None:
        return None, None, None
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None, "structured_output is not JSON", None
    size = len(text.encode())
    if size > MAX_OUTPUT_BYTES:
        return None, f"structured_output is {size} bytes, over the 64 KB kept", None
    return value, None, text


@dataclass(frozen=True)
class Verdict:
    ended_well: bool
    reason: str | None  # why not, for the summary


def verdict(
    status: str | None,
    *,
    created: bool,
    not_created_reason: str,
    cancelled: bool,
    has_schema: bool,
    output_valid: bool | None,
    output_errors: list[dict[str, str]] | None,
    blocked_ok: bool,
    timed_out: bool = False,
) -> Verdict:
    """Whether an entry ended well: finished with output that conforms to the entry's
    schema, if it has one; or blocked, when the user counts blocked (--blocked-ok)."""
    if not created:
        return Verdict(False, not_created_reason)
    if cancelled:
        return Verdict(False, "cancelled")
    if status is None or status not in SETTLED:
        shown = status or "not seen yet"
        why = "--wait-timeout passed" if timed_out else "not settled"
        return Verdict(False, f"{why} while {shown}")
    if status == "blocked":
        # Devin often blocks after opening its PR, with its notepad (output) half filled:
        # --blocked-ok takes blocked as the end, whatever the output says (results show it).
        if blocked_ok:
            return Verdict(True, None)
        return Verdict(False, "blocked (waiting for a person; --blocked-ok counts it)")
    if status != "finished":
        return Verdict(False, status)
    if has_schema and output_valid is not True:
        first = (output_errors or [{"path": "$", "message": "not checked"}])[0]
        return Verdict(
            False, f"{status}, output does not conform: {first['path']}: {first['message']}"
        )
    return Verdict(True, None)
