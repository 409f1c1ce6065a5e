"""`--notify URL`: a local webhook receiver on 127.0.0.1 gets the final summary exactly
once per run, with a `text` field and no secret; a receiver that fails twice gets it on
the third try; one that never answers well costs a warning, never the exit code; the
URL's path (a webhook's token) is never printed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.server import running_sandbox
from tests.support.hostile import serving
from tests.support.runkit import API_KEY, assert_no_secrets, launcher_env, run_launcher

pytestmark = pytest.mark.slow

TOKEN = "T0KEN-B0GUS-xoxb-123456"  # a webhook path is a credential: never printed
MANIFEST = """\
version: 1
defaults:
  tags: ["sandbox:work=0.1", "sandbox:end=finished"]
  session_secrets: [{key: TOKEN, value: "${{ env.TEST_SECRET }}"}]
sessions:
  - name: up-api
    prompt: Upgrade acme/api
  - name: up-web
    prompt: Upgrade acme/web
"""


@dataclass
class Receiver:
    """What the webhook receiver got, and the statuses it answers with, in turn."""

    url: str = ""
    answers: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def reset(self, *answers: int) -> None:
        self.answers, self.bodies = list(answers), []


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    got = Receiver()

    async def hook(request: Request) -> JSONResponse:
        got.bodies.append(await request.body())
        status = got.answers.pop(0) if got.answers else 200
        return JSONResponse({"ok": status == 200}, status_code=status)

    app = Starlette(routes=[Route("/services/{token}", hook, methods=["POST"])])
    with serving(app) as base:
        got.url = f"{base}/services/{TOKEN}"
        yield got


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("notify")
    (folder / "m.yaml").write_text(MANIFEST)
    with running_sandbox(SandboxConfig(host="127.0.0.1", port=0, api_key=None)) as handle:
        yield folder, launcher_env(handle.base_url)


def _said(res: Any) -> str:
    return res.stdout + res.stderr


def test_run_wait_posts_the_summary_exactly_once(
    world: tuple[Path, dict[str, str]], receiver: Receiver
) -> None:
    folder, env = world
    receiver.reset()
    ledger = folder / "once.jsonl"
    args = ("run", str(folder / "m.yaml"), "--ledger", str(ledger), "--wait")
    res = run_launcher(*args, "--poll-interval", "0.5", "--notify", receiver.url, env=env)
    assert res.returncode == 0, _said(res)
    assert len(receiver.bodies) == 1
    body = json.loads(receiver.bodies[0])
    assert body["command"] == "run" and body["exit_code"] == 0 and body["ok"] is True
    assert body["text"].startswith("launcher run: 2 of 2 ended well (2 finished); exit 0")
    assert {e["name"] for e in body["entries"]} == {"up-api", "up-web"}
    assert body["ledger"] == str(ledger)
    assert_no_secrets(receiver.bodies[0].decode(), _said(res))
    assert TOKEN not in _said(res)


def test_a_receiver_that_fails_twice_gets_it_on_the_third_try(
    world: tuple[Path, dict[str, str]], receiver: Receiver
) -> None:
    folder, env = world
    ledger = folder / "retry.jsonl"
    paths = (str(folder / "m.yaml"), "--ledger", str(ledger))
    assert run_launcher("run", *paths, "--wait", "--poll-interval", "0.5", env=env).returncode == 0
    receiver.reset(500, 500, 200)
    res = run_launcher("watch", *paths, "--notify", receiver.url, env=env)
    assert res.returncode == 0, _said(res)
    assert len(receiver.bodies) == 3 and len(set(receiver.bodies)) == 1
    assert json.loads(receiver.bodies[-1])["command"] == "watch"
    assert "warning" not in res.stderr


def test_a_failed_notification_is_a_warning_that_keeps_the_exit_code(
    world: tuple[Path, dict[str, str]], receiver: Receiver
) -> None:
    folder, env = world
    ledger = folder / "fail.jsonl"
    paths = (str(folder / "m.yaml"), "--ledger", str(ledger))
    assert run_launcher("run", *paths, "--wait", "--poll-interval", "0.5", env=env).returncode == 0
    receiver.reset(*[503] * 10)
    port = receiver.url.split(":")[2].split("/")[0]
    res = run_launcher("watch", *paths, "--notify", receiver.url, env=env)
    assert res.returncode == 0
    assert len(receiver.bodies) == 4  # every attempt, then it gives up
    assert (
        f"launcher: warning: could not notify http://127.0.0.1:{port}/…: the receiver "
        "answered HTTP 503 after 4 attempts"
    ) in res.stderr
    assert TOKEN not in _said(res)
    assert API_KEY not in _said(res)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ((), "--notify sends the summary of a batch's end: add --wait"),
        (("--wait",), "plain http:// only to this machine"),
    ],
)
def test_notify_is_refused_before_anything_is_sent(
    world: tuple[Path, dict[str, str]], extra: tuple[str, ...], fragment: str
) -> None:
    folder, env = world
    url = f"http://hooks.example.invalid/services/{TOKEN}" if extra else "http://127.0.0.1:9/x"
    ledger = folder / "refused.jsonl"
    res = run_launcher(
        "run", str(folder / "m.yaml"), "--ledger", str(ledger), *extra, "--notify", url, env=env
    )
    assert res.returncode == 2 and fragment in res.stderr
    assert TOKEN not in _said(res) and not ledger.exists()
