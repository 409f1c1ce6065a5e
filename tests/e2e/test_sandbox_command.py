"""`launcher sandbox` as a command and as a child process: start-up, exit codes, and
that no API key or secret value ever reaches its output."""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from launcher.cli import main
from launcher.sandbox.config import SandboxConfig, add_arguments, from_args, to_args
from launcher.sandbox.process import command, start_sandbox_process

KEY = "apk_sandbox_SUPERSECRET_KEY_42"
SECRET = "s3cr3t-value-that-must-never-print"
OTHER_KEY = "apk_someone_elses_key_0987"


@pytest.mark.slow
def test_child_process_prints_neither_key_nor_secrets() -> None:
    config = SandboxConfig(port=0, api_key=KEY, drop_rate=0.3, fail_rate=0.2, seed=1)
    with start_sandbox_process(config) as sb:
        with httpx.Client(base_url=sb.base_url, headers={"Authorization": f"Bearer {KEY}"}) as c:
            secrets = [{"key": "TOKEN", "value": SECRET}]
            for i in range(12):
                with contextlib.suppress(httpx.RemoteProtocolError):  # a dropped response
                    c.post("/v1/sessions", json={"prompt": f"p{i}", "session_secrets": secrets})
            bad = {"prompt": "x", "session_secrets": [{"key": SECRET * 20, "value": SECRET * 3000}]}
            assert c.post("/v1/sessions", json=bad).status_code == 422
            broken = b'{"session_secrets": [{"key": "K", "value": "' + SECRET.encode() + b'"}'
            assert c.post("/v1/sessions", content=broken).status_code == 422
            wrong = {"Authorization": f"Bearer {OTHER_KEY}"}
            assert c.post("/v1/sessions", json={"prompt": "x"}, headers=wrong).status_code == 401
            assert c.get("/v1/sessions", params={"tags": ["a", "b"]}).status_code == 200
            raw = c.get("/_sandbox/requests").text + c.get("/_sandbox/stats").text
        assert sb.stats()["sessions"] > 0
    output = sb.output()
    assert "sandbox listening on http://127.0.0.1:" in output
    # The lines that point the launcher at it; the key chosen with --api-key stays unsaid.
    assert f"export DEVIN_BASE_URL={sb.base_url}\n" in output
    assert "export DEVIN_API_KEY='<the value given to --api-key>'" in output
    for text in (output, raw):
        assert KEY not in text and SECRET not in text and OTHER_KEY not in text
    assert sb.process.returncode == 130  # SIGTERM on leaving: a clean stop


@pytest.mark.slow
def test_child_process_fixture_on_a_chosen_port(sandbox_process: Callable[..., Any]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sb = sandbox_process(port=port, latency_ms=10)
    assert sb.base_url == f"http://127.0.0.1:{port}"
    assert httpx.post(f"{sb.base_url}/v1/sessions", json={"prompt": "x"}).status_code == 200
    assert sb.stats()["sessions"] == 1


@pytest.mark.slow
def test_ctrl_c_exits_130_without_traceback() -> None:
    proc = subprocess.Popen(
        command(SandboxConfig(port=0)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith("sandbox listening on http://127.0.0.1:")
    assert "sandbox-key" not in line  # not even the default key is printed
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert "Traceback" not in err and "Traceback" not in out
    # stdout holds only the two lines that point the launcher at it
    assert [line for line in out.splitlines() if not line.startswith("#")] == [
        line for line in out.splitlines() if line.startswith("export ")
    ]


def test_port_in_use_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["sandbox", "--port", str(port)]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags",
    [["--fail-rate", "1.5"], ["--fail-rate", "0.6", "--drop-rate", "0.6"], ["--rate", "0"],
     ["--port", "70000"], ["--burst", "0"], ["--latency-ms", "-1"],
     ["--api-key", "k", "--no-auth"], ["--blocked-share", "0.6", "--expired-share", "0.6"],
     ["--concurrent-limit", "0"], ["--list-shape", "flat"], ["--work-seconds", "-1"],
     ["--invalid-output-share", "2"]],
)  # fmt: skip
def test_bad_flags_exit_2(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", *flags]) == 2
    assert "Traceback" not in capsys.readouterr().err


@given(
    rate=st.none() | st.floats(0.01, 1e4),
    burst=st.integers(1, 100),
    retry_after=st.none() | st.floats(0, 100),
    fail=st.floats(0, 1),
    drop_share=st.floats(0, 1),
    unavailable_share=st.floats(0, 1),
    latency=st.floats(0, 1e4),
    seed=st.none() | st.integers(-(2**40), 2**40),
    key=st.none() | st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1),
    log=st.booleans(),
    life=st.tuples(
        st.floats(0, 1e4), st.floats(0, 1e3), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)
    ),
    capacity=st.tuples(
        st.none() | st.integers(1, 10**6),
        st.booleans(),
        st.sampled_from(["object", "bare"]),
        st.booleans(),
    ),
)
def test_flags_round_trip(
    rate: float | None, burst: int, retry_after: float | None, fail: float, drop_share: float,
    unavailable_share: float, latency: float, seed: int | None, key: str | None, log: bool,
    life: tuple[float, float, float, float, float], capacity: tuple[int | None, bool, str, bool],
) -> None:  # fmt: skip
    # The three fault shares are of one draw: together at most 1.
    drop = drop_share * (1 - fail)
    unavailable = unavailable_share * max(0.0, 1 - fail - drop)
    config = SandboxConfig(
        port=0, api_key=key, rate=rate, burst=burst, retry_after=retry_after, fail_rate=fail,
        drop_rate=drop, unavailable_rate=unavailable, latency_ms=latency, seed=seed,
        access_log=log, work_seconds=life[0], work_spread=life[1], blocked_share=life[2],
        expired_share=life[3] * (1 - life[2]) * 0.99, invalid_output_share=life[4],
        concurrent_limit=capacity[0], settled_holds_slot=capacity[1], list_shape=capacity[2],
        null_status_enum=capacity[3],
    )  # fmt: skip
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert from_args(parser.parse_args(to_args(config))) == config
    assert {f.name for f in fields(SandboxConfig)} >= {"host", "port", "seed"}


def test_busy_listing_flags_round_trip() -> None:
    config = SandboxConfig(
        port=0, list_ignores_tags=True, other_sessions=300, others_per_create=120
    )
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert from_args(parser.parse_args(to_args(config))) == config
    with pytest.raises(SystemExit):
        parser.parse_args(["--other-sessions", "-1"])


@pytest.mark.slow
@pytest.mark.parametrize("flag", ["-q", "-v"])
def test_quiet_leaves_only_the_export_lines_and_verbose_logs_each_request(flag: str) -> None:
    proc = subprocess.Popen(
        [*command(SandboxConfig(port=0)), flag],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]  # a comment, then the two exports
    url = lines[1].strip().removeprefix("export DEVIN_BASE_URL=")
    assert httpx.get(url + "/v1/sessions").status_code == 401
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and lines[2].startswith("export DEVIN_API_KEY=")
    if flag == "-q":
        assert err == ""
    else:
        assert "sandbox listening on " in err and "sandbox stopped" in err
        assert '"GET /v1/sessions HTTP/1.1" 401' in err
