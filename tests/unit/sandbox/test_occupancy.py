"""The sandbox's concurrent-session limit (Devin's capacity 429), settled sessions that
hold their slot, the occupancy stats, the help text and the flags, over real sockets."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from launcher.cli import main
from launcher.sandbox.handle import SandboxHandle
from launcher.sandbox.occupancy import Occupancy
from launcher.sandbox.process import SandboxProcess

CAPACITY = "You exceeded your concurrent session limit of {}"


def client(sb: SandboxHandle) -> httpx.Client:
    return httpx.Client(base_url=sb.base_url, headers={"Authorization": "Bearer t"}, timeout=10)


def post(c: httpx.Client, prompt: str, **fields: Any) -> httpx.Response:
    return c.post("/v1/sessions", json={"prompt": prompt, **fields})


def wait_until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_create_past_the_limit_gets_devins_429_until_a_session_settles(
    make_sandbox: Callable[..., SandboxHandle],
) -> None:
    sb = make_sandbox(concurrent_limit=2, work_seconds=30)
    with client(sb) as c:
        first = post(c, "a", idempotent=True).json()["session_id"]
        assert post(c, "b").status_code == 200
        refused = post(c, "c")
        assert refused.status_code == 429
        assert refused.json() == {"detail": CAPACITY.format(2)}
        assert "retry-after" not in refused.headers
        # An idempotent twin starts nothing, so it needs no slot.
        twin = post(c, "a", idempotent=True)
        assert twin.status_code == 200 and twin.json()["session_id"] == first
        assert twin.json()["is_new_session"] is False
        sb.control(first, status="finished")
        assert post(c, "c").status_code == 200
        assert post(c, "d").status_code == 429
    stats = sb.stats()
    assert stats["capacity_limited"] == 2 and stats["rate_limited"] == 0
    assert stats["status_counts"] == {"200": 4, "429": 2}
    assert stats["sessions"] == 3 and stats["max_working"] == 2 and stats["working"] == 2


@pytest.mark.slow
def test_the_limit_clears_as_sessions_end_by_themselves(
    make_sandbox: Callable[..., SandboxHandle],
) -> None:
    sb = make_sandbox(concurrent_limit=1, work_seconds=0.3)
    with client(sb) as c:
        assert post(c, "a").status_code == 200
        assert post(c, "b").status_code == 429
        wait_until(lambda: post(c, "b").status_code == 200)
    assert sb.stats()["max_working"] == 1


@pytest.mark.slow
def test_settled_sessions_hold_their_slot_until_deleted(
    make_sandbox: Callable[..., SandboxHandle],
) -> None:
    sb = make_sandbox(concurrent_limit=2, settled_holds_slot=True, work_seconds=0.05)
    with client(sb) as c:
        done = post(c, "finishes").json()["session_id"]
        stuck = post(c, "blocks", tags=["sandbox:end=blocked"]).json()["session_id"]
        wait_until(lambda: sb.stats()["working"] == 0)
        time.sleep(0.1)
        assert post(c, "no room").status_code == 429
        stats = sb.stats()
        assert (stats["working"], stats["slots_held"]) == (0, 2)
        # Holding a slot, a finished session has not exited: DELETE frees it.
        assert c.delete(f"/v1/sessions/{done}").status_code == 200
        assert c.get(f"/v1/sessions/{done}").json()["status"] == "finished"
        assert post(c, "room", tags=["sandbox:end=expired"]).status_code == 200
        assert post(c, "no room again").status_code == 429
        # An expired session holds nothing: once it expires, the slot is free again.
        wait_until(lambda: post(c, "after expiry").status_code == 200)
        assert c.delete(f"/v1/sessions/{stuck}").status_code == 200
    lives = {life["session_id"]: life for life in sb.stats()["lives"]}
    assert lives[done]["released"] is not None and lives[done]["ended"] is not None
    assert lives[done]["released"] >= lives[done]["ended"]


@pytest.mark.slow
def test_stats_give_each_life_and_the_most_working_at_once(
    make_sandbox: Callable[..., SandboxHandle],
) -> None:
    sb = make_sandbox(work_seconds=0.3)
    with client(sb) as c:
        ids = [post(c, f"s{i}").json()["session_id"] for i in range(3)]
        assert sb.stats()["working"] == 3
        wait_until(lambda: sb.stats()["working"] == 0)
        late = post(c, "late").json()["session_id"]
    stats = sb.stats()
    assert stats["max_working"] == 3 and stats["working"] == 1
    lives = {life["session_id"]: life for life in stats["lives"]}
    assert list(lives) == [*ids, late]
    for sid in ids:
        life = lives[sid]
        assert life["status"] == "finished"
        assert life["ended"] - life["started"] == pytest.approx(0.3, abs=1e-3)
        assert life["worked"] == pytest.approx(0.3, abs=1e-3)
        assert life["released"] == life["ended"]
    assert lives[late]["ended"] is None and lives[late]["released"] is None


def test_occupancy_counts_holders_over_time() -> None:
    occupancy = Occupancy()
    occupancy.hold("a", 10.0, now=0.0)
    occupancy.hold("b", 5.0, now=1.0)
    occupancy.hold("c", float("inf"), now=2.0)
    assert occupancy.count(4.0) == 3 and occupancy.peak == 3
    occupancy.hold("b", 20.0, now=4.5)  # extended: its old end no longer counts
    assert occupancy.count(6.0) == 3
    occupancy.hold("a", 7.0, now=6.0)  # shortened
    assert occupancy.count(8.0) == 2
    occupancy.release("c")
    assert occupancy.count(8.0) == 1 and occupancy.count(20.0) == 0
    occupancy.hold("d", 1.0, now=2.0)  # already over: holds nothing
    assert occupancy.count(2.0) == 0 and occupancy.peak == 3


def test_help_shows_every_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # no line breaks inside "sandbox-key"
    assert main(["sandbox", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for expected in (
        "(default: 8787)", "(default: sandbox-key)", "(default: 127.0.0.1)",
        "capacity (default: 1)", "(default: 5.0)", "(default: no limit)",
        "(default: unlimited)", "(default: object)", "(default: random)",
    ):  # fmt: skip
        assert expected in text
    for flag in ("--work-seconds", "--work-spread", "--blocked-share", "--expired-share",
                 "--invalid-output-share", "--concurrent-limit", "--settled-holds-slot",
                 "--list-shape", "--null-status-enum"):  # fmt: skip
        assert flag in text
    assert text.count("(default: ") >= 22


@pytest.mark.slow
def test_capacity_flags_reach_a_sandbox_process(
    sandbox_process: Callable[..., SandboxProcess],
) -> None:
    sb = sandbox_process(concurrent_limit=1, work_seconds=30, list_shape="bare", seed=3)
    with client(sb) as c:
        assert post(c, "one").status_code == 200
        refused = post(c, "two")
        assert refused.status_code == 429 and refused.json()["detail"] == CAPACITY.format(1)
        assert isinstance(c.get("/v1/sessions").json(), list)
