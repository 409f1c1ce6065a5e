"""A wrong address is one line, not N failures: the first 404 or 405 on create stops the
run with exit 2, one line naming the URL and the likely fix, nothing recorded as failed,
and the next run with the right address creates every entry."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.hostile import serving
from tests.support.runkit import (
    MakeSandbox,
    assert_no_secrets,
    created,
    launcher_env,
    read_ledger,
    run_launcher,
)
from tests.support.runkit import write_manifest as write_entries


@pytest.mark.slow
def test_a_404_on_create_stops_at_once_and_records_nothing_failed(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    sb = make_sandbox()
    write_entries(tmp_path / "m" / "m.yaml", 25)
    ledger = tmp_path / "l.jsonl"
    wrong = sb.base_url + "/api"  # a path the sandbox does not serve: 404
    done = run_launcher("run", str(tmp_path / "m"), "--ledger", str(ledger),
                        env=launcher_env(wrong))  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    line = f"HTTP 404 from POST {wrong}/v1/sessions: no Devin sessions API there"
    assert line in done.stderr and "--base-url" in done.stderr
    said = [ln for ln in done.stderr.splitlines() if "HTTP 404" in ln or "error:" in ln]
    assert len(said) == 1 and said[0].startswith("launcher: error: HTTP 404")
    assert done.stdout == ""  # no per-entry report: nothing happened to them
    assert_no_secrets(done.stdout, done.stderr, ledger.read_text())
    events = read_ledger(ledger)
    assert [e for e in events if e["event"] == "failed" and not e.get("void")] == []
    assert sum(e["event"] == "sending" for e in events) == 1  # the probe alone was sent
    summary = run_launcher("ledger", "summary", str(ledger), env=launcher_env())
    assert "failed 0" in summary.stdout and "pending 1" in summary.stdout, summary.stdout
    # The right address: every entry created once, none waits out the void request.
    again = run_launcher("run", str(tmp_path / "m"), "--ledger", str(ledger),
                         env=launcher_env(sb.base_url))  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert len(created(read_ledger(ledger))) == 25 and sb.stats()["sessions"] == 25


@pytest.mark.slow
def test_a_405_under_run_wait_is_the_same_one_line(tmp_path: Path) -> None:
    posts: list[str] = []

    async def sessions(request: Request) -> Response:
        posts.append(request.method)
        return JSONResponse({"sessions": []})

    app = Starlette(routes=[Route("/v1/sessions", sessions, methods=["GET"])])
    write_entries(tmp_path / "m" / "m.yaml", 12)
    ledger = tmp_path / "l.jsonl"
    with serving(app) as url:
        done = run_launcher("run", str(tmp_path / "m"), "--ledger", str(ledger), "--wait",
                            "--poll-interval", "1", env=launcher_env(url))  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"HTTP 405 from POST {url}/v1/sessions" in done.stderr
    assert "(--api v3?)" in done.stderr
    events = read_ledger(ledger)
    assert [e for e in events if e["event"] == "failed" and not e.get("void")] == []
    assert sum(e["event"] == "sending" for e in events) == 1
