"""The wire under attack: hostile keys, echoing gateways, proxies, Retry-After,
endless or malformed answers, insecure URLs, unreachable hosts, transient 503s.

Every run goes through a real launcher process and real sockets on 127.0.0.1; names under
`.invalid` never resolve, so nothing here can reach any other host.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.support.hostile import LoggingProxy, serving
from tests.support.runkit import (
    MakeSandbox,
    assert_no_secrets,
    created,
    launcher_env,
    read_ledger,
    run_launcher,
    write_manifest,
)

# Each secret carries an alphanumeric marker that survives every escaping (JSON, repr,
# URL-encoding): the marker absent means the secret is absent in every form.
PEM = "-----BEGIN KEY-----\nMIIBVwPEMMARKER0xAAkEAq\n-----END KEY-----\n"
QUOTED = 'pa"ss\\word-QUOTEMARKER77'
UNICODE = "päss-wörd-UNIMARKER55-ü"
SWEEP_KEY = "apk_SWEEPKEYMARKER_9f8e7d6c"
MARKERS = ("PEMMARKER", "QUOTEMARKER", "UNIMARKER", "SWEEPKEYMARKER")


def _forms(secret: str) -> set[str]:
    """The escaped forms a leak could take; written out here, not borrowed from the code."""
    as_json = json.dumps(secret)[1:-1]
    return {
        secret,
        as_json,
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(as_json)[1:-1],
        repr(secret)[1:-1],
        repr(secret.encode())[2:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
    }


def assert_nothing_leaks(*texts: str, secrets: tuple[str, ...]) -> None:
    for text in texts:
        for marker in MARKERS:
            assert marker not in text, f"{marker} leaked"
        for secret in secrets:
            for form in _forms(secret):
                assert form not in text, f"a form of a secret leaked: {form!r}"
        assert "Traceback" not in text


def _prefix(body: dict[str, Any]) -> str:
    return str(body.get("prompt", "")).rsplit(" of ", 1)[-1]


async def _echoing(request: Request) -> Response:
    """A gateway that echoes what it was sent, in the form the entry's prefix names."""
    raw = await request.body()
    body = json.loads(raw)
    auth = request.headers.get("authorization", "")
    mode = _prefix(body)
    if mode == "echojson":
        return JSONResponse({"detail": f"bad request {raw.decode()} auth {auth}"}, 400)
    if mode == "echorepr":
        return PlainTextResponse(f"rejected {raw!r} {auth.encode()!r}", 400)
    if mode == "echourl":
        return PlainTextResponse(urllib.parse.quote(raw.decode() + auth), 400)
    if mode == "redirect":
        where = "https://elsewhere.invalid/?b=" + urllib.parse.quote(raw.decode() + auth)
        return Response(status_code=307, headers={"Location": where})
    if mode == "redirectraw":
        text = raw.decode("utf-8") + auth
        where = "https://elsewhere.invalid/" + text.encode("ascii", "backslashreplace").decode()
        return Response(status_code=302, headers={"Location": where.replace("\n", "\\n")})
    if mode == "session":  # a session id made of a secret
        secret = body["session_secrets"][0]["value"]
        return JSONResponse({"session_id": secret, "url": "https://x.invalid/s"}, 201)
    return JSONResponse({"detail": "unknown mode"}, 400)


SECRETS_MANIFEST = """\
version: 1
sessions:
  - name: e-${{ matrix.i }}
    matrix:
      i: [0, 1]
    prompt: Do task ${{ matrix.i }} of PREFIX
    session_secrets:
      - key: PEM
        value: ${{ env.S_PEM }}
      - key: QUOTED
        value: ${{ env.S_QUOTED }}
      - key: UNI
        value: ${{ env.S_UNI }}
"""


@pytest.mark.parametrize("key_form", ["{}", "{}\r", "{}\n", " {} ", "{}\r\n"])
@pytest.mark.slow
def test_hostile_secrets_and_key_never_shown_in_any_form(tmp_path: Path, key_form: str) -> None:
    """The must-show sweep: a CR/LF/space-wrapped key; PEM, quote/backslash and non-ASCII
    secrets; a gateway echoing them JSON-escaped, as reprs, URL-encoded, in a 3xx
    Location and as a session id. None reaches stdout, stderr or the ledger."""
    modes = ["echojson", "echorepr", "echourl", "redirect", "redirectraw", "session"]
    folder = tmp_path / "m"
    folder.mkdir()
    for mode in modes:
        (folder / f"{mode}.yaml").write_text(
            SECRETS_MANIFEST.replace("PREFIX", mode).replace("e-", f"{mode}-")
        )
    ledger = tmp_path / "l.jsonl"
    with serving(Starlette(routes=[Route("/v1/sessions", _echoing, methods=["POST"])])) as url:
        env = launcher_env(url, S_PEM=PEM, S_QUOTED=QUOTED, S_UNI=UNICODE)
        env["DEVIN_API_KEY"] = key_form.format(SWEEP_KEY)
        done = run_launcher(
            "run", str(folder), "--ledger", str(ledger), "--max-attempts", "1",
            "--reconcile-delay", "0", "--timeout", "5", env=env,
        )  # fmt: skip
    for fmt_out in (done.stdout, done.stderr, ledger.read_text()):
        assert_nothing_leaks(fmt_out, secrets=(PEM, QUOTED, UNICODE, SWEEP_KEY))
    assert done.returncode == 1, done.stderr
    stripped = "DEVIN_API_KEY has spaces or line breaks around the key" in done.stderr
    assert stripped == (key_form != "{}")
    events = read_ledger(ledger)
    failed = [e for e in events if e["event"] == "failed"]
    assert {e["entry"].split("#")[1].rsplit("-", 1)[0] for e in failed} >= {
        "echojson",
        "echorepr",
        "echourl",
        "redirect",
        "redirectraw",
    }
    assert "***" in ledger.read_text()  # masked, not dropped: the rest of the message stays
    assert not created(events)  # a session id made of a secret is not a session id


@pytest.mark.parametrize(
    ("value", "kind"), [("apk_abc\x00def123", "control"), ("apk_clé_secrète_99", "non-ASCII")]
)
@pytest.mark.slow
def test_a_key_with_control_or_non_ascii_characters_is_refused_before_anything(
    tmp_path: Path, make_sandbox: MakeSandbox, value: str, kind: str
) -> None:
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 3)
    ledger = tmp_path / "l.jsonl"
    env = launcher_env(sb.base_url, MY_KEY=value.replace("\x00", "\x01"))
    done = run_launcher("run", str(tmp_path), "--ledger", str(ledger),
                        "--api-key-env", "MY_KEY", env=env)  # fmt: skip
    assert done.returncode == 2
    assert "MY_KEY (the API key) contains" in done.stderr and kind in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert "apk_" not in done.stdout + done.stderr
    assert not ledger.exists()  # no `sending` line for a request never sent
    assert sb.stats()["requests"] == 0


async def _slow_503(request: Request) -> Response:
    return JSONResponse({"detail": "busy"}, 503, headers={"Retry-After": "1000"})


@pytest.mark.slow
def test_a_short_secret_does_not_mangle_the_launchers_own_words(tmp_path: Path) -> None:
    manifest = SECRETS_MANIFEST.replace("PREFIX", "wait").replace(
        "      - key: QUOTED\n        value: ${{ env.S_QUOTED }}\n",
        "      - key: TOK\n        value: ${{ env.S_QUOTED }}\n",
    )
    (tmp_path / "m.yaml").write_text(manifest)
    ledger = tmp_path / "l.jsonl"
    with serving(Starlette(routes=[Route("/v1/sessions", _slow_503, methods=["POST"])])) as url:
        env = launcher_env(url, S_PEM=PEM, S_QUOTED="x", S_UNI=UNICODE)
        done = run_launcher("run", str(tmp_path), "--ledger", str(ledger),
                            "--max-wait", "5", env=env)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "more than --max-wait 5s" in done.stdout
    assert "***" not in done.stdout and "--ma" + "x-wait" in done.stdout
    assert "secret TOK (in m.yaml#e-0 and 1 more) is shorter than 8 characters" in done.stderr


async def _echo_short(request: Request) -> Response:
    return PlainTextResponse(f"rejected {(await request.body()).decode()}", 400)


@pytest.mark.slow
def test_a_server_message_holding_a_short_secret_is_withheld(tmp_path: Path) -> None:
    write_manifest(tmp_path / "m.yaml", 1)
    ledger = tmp_path / "l.jsonl"
    with serving(Starlette(routes=[Route("/v1/sessions", _echo_short, methods=["POST"])])) as url:
        done = run_launcher("run", str(tmp_path), "--ledger", str(ledger),
                            env=launcher_env(url, TEST_SECRET="Qz9"))  # fmt: skip
    assert done.returncode == 1
    assert "withheld" in done.stdout and "withheld" in ledger.read_text()
    assert "Qz9" not in done.stdout + done.stderr + ledger.read_text()


# --- the proxy, and the sandbox's own token ---------------------------------------------


def _proxied_env(proxy: LoggingProxy, base_url: str | None = None) -> dict[str, str]:
    names = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
    env = launcher_env(base_url, **{name: proxy.url for name in names})
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    return env


@pytest.mark.slow
def test_run_sandbox_ignores_proxies_and_never_sends_the_users_key(tmp_path: Path) -> None:
    write_manifest(tmp_path / "m.yaml", 4)
    ledger = tmp_path / "l.jsonl"
    with LoggingProxy() as proxy:
        done = run_launcher("run", str(tmp_path), "--sandbox", "--ledger", str(ledger),
                            env=_proxied_env(proxy))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(created(read_ledger(ledger))) == 4
    assert proxy.connections == 0 and not proxy.received
    assert_no_secrets(done.stdout, done.stderr, ledger.read_text())


@pytest.mark.slow
def test_loopback_base_url_is_never_proxied(tmp_path: Path, make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 3)
    with LoggingProxy() as proxy:
        done = run_launcher("run", str(tmp_path), "--ledger", str(tmp_path / "l.jsonl"),
                            env=_proxied_env(proxy, sb.base_url))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert proxy.connections == 0 and sb.stats()["sessions"] == 3


# --- plain http, unreachable hosts, base URL versions ------------------------------------


def test_plain_http_off_loopback_is_refused_and_nothing_is_attempted(tmp_path: Path) -> None:
    write_manifest(tmp_path / "m.yaml", 2)
    ledger = tmp_path / "l.jsonl"
    with LoggingProxy() as proxy:  # an attempt would go through it: none may
        env = _proxied_env(proxy, "http://api.launcher-test.invalid")
        done = run_launcher("run", str(tmp_path), "--ledger", str(ledger), env=env)
    assert done.returncode == 2
    assert "refusing to send the API key in clear text" in done.stderr
    assert "LAUNCHER_ALLOW_INSECURE_HTTP=1" in done.stderr
    assert proxy.connections == 0 and not ledger.exists()


@pytest.mark.parametrize("target", ["https://api.launcher-test.invalid", "refused"])
@pytest.mark.slow
def test_an_unreachable_api_is_one_line_at_once(tmp_path: Path, target: str) -> None:
    if target == "refused":
        with serving(Starlette()) as url:
            pass  # the port was just freed: nothing listens there now
        target = url
    write_manifest(tmp_path / "m.yaml", 20)
    ledger = tmp_path / "l.jsonl"
    started = time.monotonic()
    done = run_launcher("run", str(tmp_path), "--ledger", str(ledger), env=launcher_env(target))
    elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line or "stopped" in line]
    assert len(errors) == 1 and errors[0].startswith("launcher: error: cannot reach")
    assert len(done.stderr.splitlines()) <= 2 and done.stdout == ""
    assert elapsed < 20  # at once: no retries, no breaker (was 9 s and 118 lines)
    events = read_ledger(ledger)
    assert [e["event"] for e in events] == ["sending", "failed"]  # the intent is void
    assert events[-1]["error"].startswith("not sent:")


@pytest.mark.slow
def test_base_url_with_v1_is_accepted_other_versions_refused(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 2)
    done = run_launcher("run", str(tmp_path), "--ledger", str(tmp_path / "l.jsonl"),
                        env=launcher_env(sb.base_url + "/v1/"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sb.stats()["sessions"] == 2
    done = run_launcher("run", str(tmp_path), "--ledger", str(tmp_path / "l2.jsonl"),
                        env=launcher_env(f"{sb.base_url}/v2"))  # fmt: skip
    assert done.returncode == 2
    assert f"DEVIN_BASE_URL='{sb.base_url}/v2'" in done.stderr and "ends in /v2" in done.stderr
    assert "speaks the Devin API v1 or v3" in done.stderr
    # /v3 names the other API, which an apk_ key does not speak: one line, nothing sent
    done = run_launcher("run", str(tmp_path), "--ledger", str(tmp_path / "l2.jsonl"),
                        env=launcher_env(f"{sb.base_url}/v3"))  # fmt: skip
    assert done.returncode == 2
    assert "the base URL's /v3 selects the Devin API v3, but the key" in done.stderr
    assert sb.stats()["requests"] == 2


@pytest.mark.slow
def test_a_wrong_key_costs_one_request_and_names_its_variable(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    sb = make_sandbox(api_key="the-right-key")
    write_manifest(tmp_path / "m.yaml", 30)
    ledger = tmp_path / "l.jsonl"
    env = launcher_env(sb.base_url, OTHER_KEY="apk_a_wrong_key_1234")
    done = run_launcher("run", str(tmp_path), "--ledger", str(ledger), "--concurrency", "8",
                        "--api-key-env", "OTHER_KEY", env=env)  # fmt: skip
    assert done.returncode == 3
    assert "the key is the value of OTHER_KEY" in done.stderr
    assert sb.stats()["requests"] == 1  # the probe alone
    assert "cut off in flight" not in done.stdout + done.stderr
    assert "29 not attempted" in done.stdout
    sending = [e for e in read_ledger(ledger) if e["event"] == "sending"]
    assert len(sending) == 1  # no intent left for requests never sent
    assert "apk_a_wrong_key_1234" not in done.stdout + done.stderr + ledger.read_text()


# --- Retry-After, bounded answers, shapes ------------------------------------------------


def _retry_after_app(value: str, hits: list[int] | None = None) -> Starlette:
    async def create(request: Request) -> Response:
        if hits is not None:
            hits.append(1)
        return JSONResponse({"detail": "later"}, 503, headers={"Retry-After": value})

    return Starlette(routes=[Route("/v1/sessions", create, methods=["POST"])])


@pytest.mark.parametrize("value", ["inf", "1e12", "Infinity"])
@pytest.mark.slow
def test_an_enormous_retry_after_fails_the_entry_not_the_run(tmp_path: Path, value: str) -> None:
    write_manifest(tmp_path / "m.yaml", 3)
    ledger = tmp_path / "l.jsonl"
    hits: list[int] = []
    with serving(_retry_after_app(value, hits)) as url:
        done = run_launcher("run", str(tmp_path), "--ledger", str(ledger),
                            "--max-wait", "5", env=launcher_env(url))  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr and "OverflowError" not in done.stderr
        failed = [e for e in read_ledger(ledger) if e["event"] == "failed"]
        assert {e["entry"] for e in failed} == {f"m.yaml#task-{i}" for i in range(3)}
        assert "asked to wait 86400s, more than --max-wait 5s" in done.stdout
        # Each entry's last line keeps the server's wait, so a run started at once honours
        # it: it sends nothing before the server's time.
        last = {e["entry"]: e for e in read_ledger(ledger)}
        assert all(e["event"] == "failed" and e.get("retry_at") for e in last.values()), last
        hits.clear()
        again = run_launcher("run", str(tmp_path), "--ledger", str(ledger),
                             "--max-wait", "5", env=launcher_env(url))  # fmt: skip
    assert again.returncode == 1 and "more than --max-wait" in again.stdout, again.stdout
    assert hits == []


def _flaky_app(failures: int) -> tuple[Starlette, dict[str, int]]:
    """Each request's first `failures` attempts get 503 Retry-After: 0, then 201."""
    attempts: dict[str, int] = {}

    async def create(request: Request) -> Response:
        prompt = json.loads(await request.body())["prompt"]
        attempts[prompt] = attempts.get(prompt, 0) + 1
        if attempts[prompt] <= failures:
            return JSONResponse({"detail": "try again"}, 503, headers={"Retry-After": "0"})
        n = sum(attempts.values())
        return JSONResponse({"session_id": f"devin-{n}", "url": f"https://x.invalid/{n}"}, 201)

    return Starlette(routes=[Route("/v1/sessions", create, methods=["POST"])]), attempts


@pytest.mark.slow
def test_transient_503s_retry_now_do_not_stop_a_small_run(tmp_path: Path) -> None:
    write_manifest(tmp_path / "m.yaml", 10)
    ledger = tmp_path / "l.jsonl"
    app, attempts = _flaky_app(2)
    with serving(app) as url:
        started = time.monotonic()
        done = run_launcher("run", str(tmp_path), "--ledger", str(ledger), env=launcher_env(url))
        elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert len(created(read_ledger(ledger))) == 10
    assert sorted(attempts.values()) == [3] * 10
    assert "circuit breaker" not in done.stderr
    assert elapsed < 15  # a few seconds (was 19 s, breaker open, 0 sessions)


@pytest.mark.slow
def test_a_real_outage_still_opens_the_breaker(tmp_path: Path, make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox(unavailable_rate=1.0)
    write_manifest(tmp_path / "m.yaml", 10)
    done = run_launcher("run", str(tmp_path), "--ledger", str(tmp_path / "l.jsonl"),
                        "--max-attempts", "100", env=launcher_env(sb.base_url),
                        timeout=150)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "circuit breaker open: the API keeps failing" in done.stderr
    assert sb.stats()["sessions"] == 0
