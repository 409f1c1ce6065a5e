"""The sandbox's follow-through surface over real sockets: list, get with messages,
terminate, message, tags, the legacy singular path, the compatibility switches and the
counters in /_sandbox/stats."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from launcher.sandbox.handle import SandboxHandle

KEY = "apk_sandbox_follow_KEY"


def client(sb: SandboxHandle, key: str | None = KEY) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=sb.base_url, headers=headers, timeout=10)


def create(c: httpx.Client, prompt: str, **fields: Any) -> str:
    response = c.post("/v1/sessions", json={"prompt": prompt, **fields})
    assert response.status_code == 200, response.text
    return str(response.json()["session_id"])


def status_of(c: httpx.Client, sid: str) -> str:
    return str(c.get(f"/v1/sessions/{sid}").json()["status"])


def wait_for(c: httpx.Client, sid: str, status: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while status_of(c, sid) != status:
        assert time.monotonic() < deadline, f"{sid} never became {status}"
        time.sleep(0.05)


def test_list_filters_by_every_tag_with_limit_and_offset(sandbox: SandboxHandle) -> None:
    with client(sandbox) as c:
        ids = [create(c, f"t{i}", tags=["batch"] + (["odd"] if i % 2 else [])) for i in range(7)]
        create(c, "other", tags=["elsewhere"])

        def listed(**params: Any) -> list[str]:
            response = c.get("/v1/sessions", params=params)
            assert response.status_code == 200
            return [row["session_id"] for row in response.json()["sessions"]]

        newest_first = ids[::-1]
        assert listed(tags="batch") == newest_first
        assert listed(tags=["batch", "odd"]) == [ids[5], ids[3], ids[1]]
        assert listed(tags=["batch", "odd"], limit=2, offset=1) == [ids[3], ids[1]]
        assert listed(tags="batch", limit=3, offset=6) == [ids[0]]
        assert listed(tags="nobody") == []
        assert len(listed()) == 8  # default limit 100


@pytest.mark.slow
def test_get_shows_messages_and_devin_closing_note(
    make_sandbox: Callable[..., SandboxHandle],
) -> None:
    sb = make_sandbox(api_key=KEY, work_seconds=0.1)
    with client(sb) as c:
        sid = create(c, "Write the changelog")
        sent = c.post(f"/v1/sessions/{sid}/message", json={"message": "also the README"})
        assert sent.json() in (None, {"detail": "Session was finished; it is working again"})
        wait_for(c, sid, "finished")
        shown = c.get(f"/v1/sessions/{sid}").json()
        legacy = c.get(f"/v1/session/{sid}").json()  # older clients' singular path
        assert legacy["session_id"] == sid and legacy["messages"] == shown["messages"]
        assert {m["type"] for m in shown["messages"]} == {
            "initial_user_message", "user_message", "devin_message",
        }  # fmt: skip
        texts = [m["message"] for m in shown["messages"]]
        assert texts[0] == "Write the changelog" and "also the README" in texts
        assert shown["pull_request"]["url"] in texts[-1]
        assert "messages" not in c.get("/v1/sessions").json()["sessions"][0]
        assert c.get("/v1/sessions/devin-unknown").status_code == 404
    with client(sb, key="wrong") as wrong:
        for response in (
            wrong.get(f"/v1/sessions/{sid}"),
            wrong.delete(f"/v1/sessions/{sid}"),
            wrong.post(f"/v1/sessions/{sid}/message", json={"message": "x"}),
            wrong.put(f"/v1/sessions/{sid}/tags", json={"tags": []}),
            wrong.get(f"/v1/session/{sid}"),
        ):
            assert response.status_code == 401 and KEY not in response.text


def test_delete_terminates_once_then_422(make_sandbox: Callable[..., SandboxHandle]) -> None:
    sb = make_sandbox(work_seconds=30)
    with client(sb) as c:
        working = create(c, "working")
        blocked = create(c, "blocked", tags=["sandbox:work=0", "sandbox:end=blocked"])
        finished = create(c, "finished", tags=["sandbox:work=0"])
        expired = create(c, "expired", tags=["sandbox:work=0", "sandbox:end=expired"])

        first = c.delete(f"/v1/sessions/{working}")
        assert first.status_code == 200 and isinstance(first.json()["detail"], str)
        assert status_of(c, working) == "stopped"
        again = c.delete(f"/v1/sessions/{working}")
        assert again.status_code == 422 and "exited" in again.json()["detail"][0]["msg"]
        # Blocked waits for a person, so it has not exited: terminating it is allowed,
        # and it keeps its status (and PR) as its result.
        assert c.delete(f"/v1/sessions/{blocked}").status_code == 200
        assert status_of(c, blocked) == "blocked"
        assert c.delete(f"/v1/sessions/{blocked}").status_code == 422
        for done in (finished, expired):
            assert c.delete(f"/v1/sessions/{done}").status_code == 422
        assert c.delete("/v1/sessions/devin-unknown").status_code == 404
        gone = c.post(f"/v1/sessions/{working}/message", json={"message": "hello?"})
        assert gone.status_code == 422 and "terminated" in gone.json()["detail"][0]["msg"]
    stats = sb.stats()
    assert stats["deletes"] == 7 and stats["terminated"] == 2


@pytest.mark.slow
def test_message_wakes_a_blocked_session_until_it_finishes(
    make_sandbox: Callable[..., SandboxHandle],
) -> None:
    sb = make_sandbox(work_seconds=0.3)
    with client(sb) as c:
        sid = create(c, "needs an answer", tags=["sandbox:work=0", "sandbox:end=blocked"])
        expired = create(c, "too late", tags=["sandbox:work=0", "sandbox:end=expired"])
        assert status_of(c, sid) == "blocked"
        answer = c.post(f"/v1/sessions/{sid}/message", json={"message": "use the v2 API"})
        assert answer.status_code == 200 and "working again" in answer.json()["detail"]
        assert status_of(c, sid) == "working"
        # A message to a working session is recorded and changes nothing.
        assert c.post(f"/v1/sessions/{sid}/message", json={"message": "thanks"}).json() is None
        wait_for(c, sid, "finished")
        messages = c.get(f"/v1/sessions/{sid}").json()["messages"]
        assert [m["type"] for m in messages] == [
            "initial_user_message", "devin_message", "user_message", "user_message",
            "devin_message",
        ]  # fmt: skip
        assert messages[1]["message"].startswith("I need your input")
        refused = c.post(f"/v1/sessions/{expired}/message", json={"message": "wake up"})
        assert refused.status_code == 422 and "expired" in refused.json()["detail"][0]["msg"]
        for bad in ({}, {"message": 3}, [1]):
            assert c.post(f"/v1/sessions/{sid}/message", json=bad).status_code == 422
        missing = c.post("/v1/sessions/devin-unknown/message", json={"message": "x"})
        assert missing.status_code == 404
    assert sb.stats()["messages"] == 7


def test_put_tags_replaces_them(sandbox: SandboxHandle) -> None:
    with client(sandbox) as c:
        sid = create(c, "retag me", tags=["old", "batch"])
        answer = c.put(f"/v1/sessions/{sid}/tags", json={"tags": ["new", "batch"]})
        assert answer.status_code == 200 and isinstance(answer.json()["detail"], str)
        assert c.get(f"/v1/sessions/{sid}").json()["tags"] == ["new", "batch"]
        assert c.get("/v1/sessions", params={"tags": "old"}).json()["sessions"] == []
        [row] = c.get("/v1/sessions", params={"tags": "new"}).json()["sessions"]
        assert row["session_id"] == sid
        for bad, loc in (({"tags": ["x"] * 51}, ["body", "tags"]),
                         ({"tags": ["ok", 7]}, ["body", "tags", 1]),
                         ({}, ["body", "tags"]), ({"tags": "x"}, ["body", "tags"])):  # fmt: skip
            response = c.put(f"/v1/sessions/{sid}/tags", json=bad)
            assert response.status_code == 422 and response.json()["detail"][0]["loc"] == loc
        assert c.get(f"/v1/sessions/{sid}").json()["tags"] == ["new", "batch"]
        assert c.put("/v1/sessions/devin-x/tags", json={"tags": []}).status_code == 404


def test_bare_list_and_null_status_enum_switches(
    make_sandbox: Callable[..., SandboxHandle],
) -> None:
    sb = make_sandbox(list_shape="bare", null_status_enum=True)
    with client(sb) as c:
        sid = create(c, "old client shapes")
        rows = c.get("/v1/sessions").json()
        assert isinstance(rows, list) and rows[0]["session_id"] == sid
        assert rows[0]["status_enum"] is None and rows[0]["status"] == "working"
        assert c.get(f"/v1/sessions/{sid}").json()["status_enum"] is None
    assert [r["session_id"] for r in sb.list_sessions()] == [sid]  # the handle takes both


def test_stats_count_each_kind_of_request(sandbox: SandboxHandle) -> None:
    with client(sandbox) as c:
        sid = create(c, "count me")
        c.get("/v1/sessions")
        c.get("/v1/sessions", params={"tags": "x"})
        c.get(f"/v1/sessions/{sid}")
        c.get(f"/v1/session/{sid}")
        c.get("/v1/sessions/devin-unknown")
        c.post(f"/v1/sessions/{sid}/message", json={"message": "hi"})
        c.put(f"/v1/sessions/{sid}/tags", json={"tags": ["t"]})
        c.delete(f"/v1/sessions/{sid}")
    stats = sandbox.stats()
    assert (stats["list_gets"], stats["single_gets"], stats["messages"]) == (2, 3, 1)
    assert (stats["tag_updates"], stats["deletes"], stats["terminated"]) == (1, 1, 1)
    assert stats["requests"] == 1  # still POST /v1/sessions only
