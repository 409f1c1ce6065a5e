"""The launcher's session statuses from the API's words: v1's `status_enum` (its sleep path
mapped), and v3's `status` with `status_detail`, through one documented table.

Settled statuses are distinct where the user acts differently on each: `blocked` (answer
it), `awaiting_approval` (approve it), `sleeping` (message it to wake it), `acu_limit`
(its max_acu_limit is spent), `out_of_credits` (the organisation must pay or wait).
"""

from __future__ import annotations

from typing import Any

WORKING = "working"

# v3 `status` → the launcher's status, where `status_detail` does not decide it.
V3_STATUS: dict[str, str] = {
    "new": WORKING,
    "claimed": WORKING,
    "running": WORKING,  # refined by V3_RUNNING
    "resuming": WORKING,
    "suspended": "sleeping",  # refined by V3_SUSPENDED
    "exit": "stopped",
    "error": "error",
}
# `status_detail` while `running`.
V3_RUNNING: dict[str, str] = {
    "working": WORKING,
    "waiting_for_user": "blocked",
    "waiting_for_approval": "awaiting_approval",
    "finished": "finished",
}
# `status_detail` while `suspended`: why it sleeps.
V3_SUSPENDED: dict[str, str] = {
    "inactivity": "sleeping",
    "user_request": "sleeping",
    "usage_limit_exceeded": "acu_limit",
    "out_of_credits": "out_of_credits",
    "out_of_quota": "out_of_credits",
    "no_quota_allocation": "out_of_credits",
    "payment_declined": "out_of_credits",
    "org_usage_limit_exceeded": "out_of_credits",
    "total_session_limit_exceeded": "out_of_credits",
    "error": "error",
}
# v1 `status_enum` values of the sleep path; the others are kept as they are.
V1_STATUS: dict[str, str] = {
    "suspend_requested": "sleeping",
    "suspend_requested_frontend": "sleeping",
    "resume_requested": WORKING,
    "resume_requested_frontend": WORKING,
    "resumed": WORKING,
}


def v3_status(status: Any, detail: Any) -> str:
    """The launcher's status for a v3 session; `unknown: X` for a value not documented."""
    if not isinstance(status, str) or status not in V3_STATUS:
        return f"unknown: {status}"[:40] if isinstance(status, str) else "unknown"
    table = {"running": V3_RUNNING, "suspended": V3_SUSPENDED}.get(status, {})
    if isinstance(detail, str) and detail in table:
        return table[detail]
    return V3_STATUS[status]


def v1_status(status_enum: str) -> str:
    """The launcher's status for a v1 `status_enum` (already lower case)."""
    return V1_STATUS.get(status_enum, status_enum)
