"""One session's hostile answer is that session's problem: a fake API on 127.0.0.1 serves 16
sessions, one of them with a structured output nested 600 or 100,000 levels deep, or of
17 MiB. `cancel` still terminates every active session, `watch` still sees the other 15
end, and nothing crashes with a traceback."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.hostile import serving
from tests.support.runkit import (
    assert_no_secrets,
    launcher_cmd,
    launcher_env,
    read_ledger,
    run_launcher,
    write_manifest,
)

pytestmark = pytest.mark.slow

COUNT = 16
HOSTILE_ID = "devin-7"
OUTPUTS = {
    "nested-600": b"[" * 600 + b"]" * 600,
    "nested-100000": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "17MiB": json.dumps({"log": "x" * (17 * 1024 * 1024)}).encode(),
}


class FakeApi:
    """Creates devin-0..15 in order; lists and gets them with `status`; one of them
    carries the hostile output; counts DELETEs."""

    def __init__(self, hostile: bytes) -> None:
        self.hostile = hostile
        self.status = "working"
        self.created = 0
        self.deleted: set[str] = set()
        self.hostile_everywhere = False

    def _row(self, sid: str) -> bytes:
        hostile = sid == HOSTILE_ID or self.hostile_everywhere
        ended = self.status if not hostile else "working"
        row = {"session_id": sid, "status_enum": ended, "tags": ["bulk"], "structured_output": 0}
        text = json.dumps(row).encode()
        if hostile:
            text = text.replace(b'"structured_output": 0', b'"structured_output": ' + self.hostile)
        return text

    async def create(self, request: Request) -> Response:
        sid = f"devin-{self.created}"
        self.created += 1
        return JSONResponse({"session_id": sid, "url": f"https://x/{sid}", "is_new_session": True})

    async def listing(self, request: Request) -> Response:
        if request.query_params.get("tags") == "bulk":  # the duplicate check: none yet
            return JSONResponse({"sessions": []})
        rows = b",".join(self._row(f"devin-{i}") for i in range(self.created))
        return Response(b'{"sessions":[' + rows + b"]}", media_type="application/json")

    async def one(self, request: Request) -> Response:
        sid = request.path_params["sid"]
        if request.method == "DELETE":
            self.deleted.add(sid)
            return JSONResponse({"detail": "terminated"})
        return Response(self._row(sid), media_type="application/json")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/sessions", self.create, methods=["POST"]),
                Route("/v1/sessions", self.listing, methods=["GET"]),
                Route("/v1/sessions/{sid}", self.one, methods=["GET", "DELETE"]),
            ]
        )


@pytest.fixture(params=sorted(OUTPUTS))
def fake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FakeApi, str]]:
    api = FakeApi(OUTPUTS[request.param])
    with serving(api.app()) as url:
        yield api, url


def _no_crash(*results: Any) -> None:
    for result in results:
        assert "Traceback" not in result.stderr, result.stderr
        assert "RecursionError" not in result.stderr + result.stdout
        assert_no_secrets(result.stdout, result.stderr)


def test_one_hostile_output_never_stops_the_batch(
    tmp_path: Path, fake: tuple[FakeApi, str]
) -> None:
    api, url = fake
    manifest = write_manifest(tmp_path / "m.yaml", COUNT)
    ledger = tmp_path / "l.jsonl"
    env = launcher_env(url)
    common = (str(manifest), "--ledger", str(ledger))
    run = run_launcher("run", *common, "--reconcile-delay", "0", env=env)
    assert run.returncode == 0, run.stderr
    assert api.created == COUNT

    # All 16 still working: cancel terminates every one, the hostile one included.
    cancel = run_launcher("cancel", *common, env=env)
    _no_crash(run, cancel)
    assert api.deleted == {f"devin-{i}" for i in range(COUNT)}, cancel.stderr
    cancelled = [e for e in read_ledger(ledger) if e["event"] == "cancelled"]
    assert len(cancelled) == COUNT

    # A second batch, where the other 15 have finished: watch sees each of them end.
    ledger2 = tmp_path / "l2.jsonl"
    api.created, api.status = 0, "finished"
    common2 = (str(manifest), "--ledger", str(ledger2), "--run-key", "again")
    assert run_launcher("run", *common2, "--reconcile-delay", "0", env=env).returncode == 0
    watch = run_launcher(
        "watch", *common2, "--poll-interval", "0.2", "--timeout", "2", "--format", "json", env=env
    )
    _no_crash(watch)
    assert watch.returncode == 1, watch.stderr  # the hostile one never ends: not all well
    doc = json.loads(watch.stdout)
    statuses = {e.get("session_id"): e.get("status") for e in doc["entries"]}
    assert sum(s == "finished" for s in statuses.values()) == COUNT - 1, statuses
    assert statuses[HOSTILE_ID] != "finished"
    assert HOSTILE_ID in watch.stderr  # its problem named, once
    finished = {e["session_id"] for e in read_ledger(ledger2) if e.get("status_enum") == "finished"}
    assert len(finished) == COUNT - 1


class EchoApi:
    """Creates sessions that echo their secret in the output and in the PR URL."""

    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.rows: list[dict[str, Any]] = []

    async def create(self, request: Request) -> Response:
        body = await request.json()
        secret = body["session_secrets"][0]["value"]
        sid = f"devin-{len(self.rows)}"
        self.rows.append(
            {
                "session_id": sid,
                "status_enum": "finished",
                "structured_output": {"token": secret, "note": f"used {secret}"},
                "pull_request": {"url": f"https://github.test/o/r/pull/1?t={secret}"},
            }
        )
        return JSONResponse({"session_id": sid, "url": f"https://x/{sid}", "is_new_session": True})

    async def listing(self, request: Request) -> Response:
        if request.query_params.get("tags") == "bulk":
            return JSONResponse({"sessions": []})
        return JSONResponse({"sessions": self.rows})

    async def one(self, request: Request) -> Response:
        rows = [r for r in self.rows if r["session_id"] == request.path_params["sid"]]
        if request.method != "GET":
            return JSONResponse({"detail": "ok"})
        return JSONResponse(rows[0]) if rows else JSONResponse({}, status_code=404)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/sessions", self.create, methods=["POST"]),
                Route("/v1/sessions", self.listing, methods=["GET"]),
                Route("/v1/sessions/{sid}", self.one, methods=["GET", "DELETE"]),
                Route("/v1/sessions/{sid}/message", self.one, methods=["POST"]),
            ]
        )


def test_a_secret_echoed_by_a_session_is_never_kept_when_its_variable_is_unset(
    tmp_path: Path,
) -> None:
    api = EchoApi()
    manifest = write_manifest(tmp_path / "m.yaml", 2)
    ledger = tmp_path / "l.jsonl"
    common = (str(manifest), "--ledger", str(ledger))
    with serving(api.app()) as url:
        env = launcher_env(url)
        assert run_launcher("run", *common, "--reconcile-delay", "0", env=env).returncode == 0
        unset = {k: v for k, v in env.items() if k != "TEST_SECRET"}
        outputs = []
        for command in (
            ("watch", *common, "--poll-interval", "0.2", "--timeout", "5"),
            ("cancel", *common),
            ("message", *common, "--text", "hello"),
        ):
            done = run_launcher(*command, env=unset)
            assert done.returncode == 2, done.stderr
            assert "TEST_SECRET" in done.stderr and "Traceback" not in done.stderr
            outputs.append(done)
        # With it set, the echo is recognised and masked wherever it goes.
        watched = run_launcher("watch", *common, "--poll-interval", "0.2", env=env)
        assert watched.returncode == 0, watched.stderr
        outputs.append(watched)
    for fmt in ("jsonl", "json", "csv"):
        exported = run_launcher("results", *common, "--format", fmt, env=unset)
        assert exported.returncode == 0, exported.stderr
        outputs.append(exported)
    events = read_ledger(ledger)
    assert sum(e["event"] == "status" for e in events) == 2
    _no_crash(*outputs)
    assert_no_secrets(ledger.read_text())


def test_watch_against_16_mib_answers_stays_under_300_mib(tmp_path: Path) -> None:
    """Two sessions whose outputs are 7.7 MiB arrays of numbers: a list page of almost
    16 MiB, and 8 MiB answers one by one. At most 1 MiB of an answer is read, so the
    watcher's peak memory stays far below a 512 Mi container limit."""
    api = FakeApi(b"[" + b"1," * (4_000_000) + b"1]")
    api.hostile_everywhere = True
    manifest = write_manifest(tmp_path / "m.yaml", 2)
    ledger = tmp_path / "l.jsonl"
    common = (str(manifest), "--ledger", str(ledger))
    with serving(api.app()) as url:
        env = launcher_env(url)
        assert run_launcher("run", *common, "--reconcile-delay", "0", env=env).returncode == 0
        args = ("watch", *common, "--poll-interval", "0.5", "--timeout", "4")
        with (tmp_path / "err").open("w+") as err:
            # wait4: the resource usage of this child alone, its peak RSS included
            watch = subprocess.Popen(launcher_cmd(*args), env=env, stdout=err, stderr=err)
            _, status, usage = os.wait4(watch.pid, 0)
            watch.returncode = os.waitstatus_to_exitcode(status)
            err.seek(0)
            output = err.read()
    assert watch.returncode == 1, output  # neither ends: both answers are too large
    assert "Traceback" not in output
    peak_mib = usage.ru_maxrss / 1024  # KiB on Linux
    assert peak_mib < 300, f"watch peaked at {peak_mib:.0f} MiB"
