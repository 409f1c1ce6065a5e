"""Terminal injection: a hostile server puts ESC sequences, BEL, CR, bidi
overrides and zero-width characters in `session_id`, `url` and error `detail`. None of them
may reach stdout or stderr of `run`, `plan` (reading a ledger that holds them) or
`ledger summary`, in text or JSON: each is shown as a visible escape instead."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from launcher.sandbox.server import bind, url_of
from launcher.text import printable
from tests.support.runkit import launcher_env, read_ledger, run_launcher

# Clear the screen, set the window title, ring the bell, return to column 0 and forge a
# line, reverse the text that follows, hide a character, a C1 CSI.
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\rcreated  all.yaml#fine  https://ok\u202etxt.exe\u200b\x9b31m"
# Everything a terminal may act on: C0 but tab and newline, DEL, C1, bidi, zero-width.
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]"
)
REVOKED = "apk_revoked_for_the_401_case"

MANIFEST = """\
version: 1
sessions:
  - name: good
    prompt: make a session
  - name: refused
    prompt: refuse this one
  - name: broken
    prompt: fail this one
"""


async def create(request: Request) -> JSONResponse:
    if request.headers.get("authorization") == f"Bearer {REVOKED}":
        return JSONResponse({"detail": HOSTILE}, status_code=401)
    prompt = (await request.json())["prompt"]
    if "refuse" in prompt:
        item = {"loc": ["body", "prompt"], "msg": HOSTILE, "type": "value_error"}
        return JSONResponse({"detail": [item]}, status_code=422)
    if "fail" in prompt:
        return JSONResponse({"detail": HOSTILE}, status_code=400)
    return JSONResponse(
        {"session_id": f"devin-{HOSTILE}", "url": f"https://x/{HOSTILE}", "is_new_session": True}
    )


async def listing(request: Request) -> JSONResponse:
    return JSONResponse({"sessions": []})


@pytest.fixture
def hostile_api() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/v1/sessions", create, methods=["POST"]),
            Route("/v1/sessions", listing, methods=["GET"]),
        ]
    )
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _clean(*texts: str) -> None:
    for text in texts:
        found = sorted({f"U+{ord(c):04X}" for c in UNSAFE.findall(text)})
        assert not found, f"raw control characters reached the terminal: {found}\n{text!r}"


@pytest.mark.slow
def test_nothing_a_hostile_server_sends_reaches_the_terminal_raw(
    tmp_path: Path, hostile_api: str
) -> None:
    (tmp_path / "all.yaml").write_text(MANIFEST)
    ledger = tmp_path / "l.jsonl"
    env = launcher_env(hostile_api)
    outputs = []
    for fmt in ("text", "json"):
        run = run_launcher(
            "run",
            str(tmp_path),
            "--ledger",
            str(ledger),
            "--format",
            fmt,
            "--run-key",
            fmt,
            "--max-attempts",
            "1",
            "--timeout",
            "2",
            "--reconcile-delay",
            "0",
            env=env,
        )
        assert run.returncode == 1, run.stderr  # two refused, one answered with garbage
        outputs.append(run)
    # A session id or url holding control characters is no session: a malformed answer,
    # in doubt, never recorded as created; the hostile errors are kept as they came.
    events = read_ledger(ledger)
    assert not any(e.get("session_id") for e in events)
    assert any("malformed answer" in (e.get("error") or "") for e in events)
    assert any("\x1b" in (e.get("error") or "") for e in events)
    # A ledger can hold them all the same (an older launcher wrote it, or a hand): plan and
    # summary read them back and must escape them too.
    good = next(e for e in events if e["entry"] == "all.yaml#good" and e["event"] == "sending")
    hostile_created = {
        **{k: good[k] for k in ("v", "entry", "name", "key", "run_id")},
        "ts": good["ts"],
        "event": "created",
        "session_id": f"devin-{HOSTILE}",
        "url": f"https://x/{HOSTILE}",
        "is_new_session": True,
    }
    with ledger.open("a") as f:
        f.write(json.dumps(hostile_created) + "\n")
    for fmt in ("text", "json"):
        outputs.append(
            run_launcher(
                "plan",
                str(tmp_path),
                "--ledger",
                str(ledger),
                "--run-key",
                "text",
                "--format",
                fmt,
                env=env,
            )
        )
        summary = run_launcher("ledger", "summary", str(ledger), "--format", fmt, env=env)
        assert summary.returncode == 1
        outputs.append(summary)
    revoked = run_launcher(
        "run",
        str(tmp_path),
        "--ledger",
        str(tmp_path / "l2.jsonl"),
        env={**env, "DEVIN_API_KEY": REVOKED},
    )
    assert revoked.returncode == 3
    outputs.append(revoked)

    for result in outputs:
        _clean(result.stdout, result.stderr)
    text_run, json_run, text_plan, text_summary = outputs[0], outputs[1], outputs[2], outputs[3]
    # What was escaped is still there to read, as visible escapes.
    assert "\\x1b[2J" in text_run.stdout + text_run.stderr  # the 422 and 400 details
    assert "(session devin-\\x1b[2J" in text_plan.stdout
    assert "\\x1b[2J" in text_summary.stdout
    # JSON keeps the exact values for scripts (json.loads restores them), in ASCII.
    doc = json.loads(json_run.stdout)
    assert any("malformed answer" in (e["error"] or "") for e in doc["entries"])
    assert json_run.stdout.isascii()


def test_printable_escapes_each_unsafe_character_and_keeps_the_rest() -> None:
    assert (
        printable("plain text, tabs\tand accents: é ü 日本")
        == "plain text, tabs\tand accents: é ü 日本"
    )
    assert printable("a\x1bb\x07c\rd\x00e\x7ff\x85g") == "a\\x1bb\\x07c\\x0dd\\x00e\\x7ff\\x85g"
    assert printable("\u202eabc\u2066\u200b\ufeff") == "\\u202eabc\\u2066\\u200b\\ufeff"
    assert printable("two\nlines") == "two\\x0alines"
    assert not UNSAFE.search(printable("".join(chr(c) for c in range(0x3000))))
