"""The status table: every documented v3 status and status_detail, and v1's sleep path,
mapped onto the launcher's statuses; blocked, awaiting approval, sleeping, out of ACUs and
out of credits stay distinct because the user acts differently on each."""

from __future__ import annotations

import pytest

from launcher.api.openapi import OPENAPI_V3_FILE, openapi
from launcher.api.statuses import V1_STATUS, V3_RUNNING, V3_STATUS, V3_SUSPENDED, v1_status
from launcher.api.statuses import v3_status as mapped
from launcher.api.v3 import session_row
from launcher.follow.status import FINAL, SETTLED, normalise

# Written out from Devin's v3 reference, not read from the code.
DOCUMENTED_STATUSES = ("new", "claimed", "running", "exit", "error", "suspended", "resuming")
RUNNING_DETAILS = {
    "working": "working",
    "waiting_for_user": "blocked",
    "waiting_for_approval": "awaiting_approval",
    "finished": "finished",
}
SUSPENDED_DETAILS = {
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
PLAIN = {
    "new": "working",
    "claimed": "working",
    "running": "working",
    "resuming": "working",
    "suspended": "sleeping",
    "exit": "stopped",
    "error": "error",
}


def test_the_table_covers_exactly_the_documented_values() -> None:
    assert set(V3_STATUS) == set(DOCUMENTED_STATUSES)
    assert set(V3_RUNNING) == set(RUNNING_DETAILS)
    assert set(V3_SUSPENDED) == set(SUSPENDED_DETAILS)


def test_every_value_the_documents_list_is_mapped() -> None:
    # The OpenAPI documents in schemas/ list the values; each has a row of its own.
    v3 = openapi(OPENAPI_V3_FILE)["components"]["schemas"]["SessionResponse"]["properties"]
    assert set(v3["status"]["enum"]) == set(V3_STATUS)
    [details] = [b["enum"] for b in v3["status_detail"]["anyOf"] if "enum" in b]
    assert set(details) == set(V3_RUNNING) | set(V3_SUSPENDED)
    v1 = openapi()["components"]["schemas"]["StatusEnum"]["anyOf"][0]["enum"]
    assert {v1_status(value) for value in v1} <= SETTLED | {"working"}


@pytest.mark.parametrize("status", DOCUMENTED_STATUSES)
def test_each_status_without_a_detail(status: str) -> None:
    assert mapped(status, None) == PLAIN[status]


@pytest.mark.parametrize(("detail", "expected"), RUNNING_DETAILS.items())
def test_each_detail_while_running(detail: str, expected: str) -> None:
    assert mapped("running", detail) == expected


@pytest.mark.parametrize(("detail", "expected"), SUSPENDED_DETAILS.items())
def test_each_detail_while_suspended(detail: str, expected: str) -> None:
    assert mapped("suspended", detail) == expected


def test_settled_and_wakeable_are_told_apart() -> None:
    finals = {"finished", "stopped", "error", "acu_limit", "out_of_credits"}
    wakeable = {"blocked", "awaiting_approval", "sleeping"}
    assert finals | wakeable <= SETTLED
    assert finals <= FINAL and not wakeable & FINAL
    assert "working" not in SETTLED
    # the user acts on each differently: none of them is another's name
    assert len({"blocked", "awaiting_approval", "sleeping", "acu_limit", "out_of_credits"}) == 5


def test_undocumented_values_are_unknown_not_settled() -> None:
    assert mapped("melting", None) == "unknown: melting"
    assert mapped(None, "finished") == "unknown"
    assert mapped("running", "pondering") == "working"
    assert normalise({"session_id": "s1", "status": "melting"}) is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("suspend_requested", "sleeping"),
        ("suspend_requested_frontend", "sleeping"),
        ("resume_requested", "working"),
        ("resume_requested_frontend", "working"),
        ("resumed", "working"),
        ("finished", "finished"),
        ("blocked", "blocked"),
        ("expired", "expired"),
        ("working", "working"),
    ],
)
def test_v1_status_enum_and_its_sleep_path(value: str, expected: str) -> None:
    assert v1_status(value) == expected
    sleep_path = ("suspend", "resume")
    assert all(name.startswith(sleep_path) for name in V1_STATUS)


def test_a_v3_row_is_read_with_every_pull_request_and_its_acus() -> None:
    row = session_row(
        {
            "session_id": "devin-1",
            "status": "running",
            "status_detail": "finished",
            "acus_consumed": 3.5,
            "pull_requests": [
                {"pr_url": "https://github.com/o/r/pull/1", "pr_state": "open"},
                {"pr_url": "https://github.com/o/r/pull/2", "pr_state": "merged"},
                {"pr_url": 5},
                "junk",
            ],
        }
    )
    seen = normalise(row)
    assert seen is not None
    assert (seen.status, seen.acus) == ("finished", 3.5)
    assert seen.pull_requests == ("https://github.com/o/r/pull/1", "https://github.com/o/r/pull/2")
    assert seen.pull_request_url == "https://github.com/o/r/pull/1"
    assert normalise(session_row({"session_id": "s", "acus_consumed": "9"})).acus is None  # type: ignore[union-attr]
