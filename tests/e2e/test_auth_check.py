"""`auth check` reaches the API through the same connection as `run`: the https rule, the
proxy rule, the key's checks and the refusal of a user name or password in the base URL.

Real launcher processes, real sockets on 127.0.0.1; names under `.invalid` never resolve.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.hostile import LoggingProxy
from tests.support.runkit import MakeSandbox, launcher_env, run_launcher, write_manifest

PROXY_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
PASSWORD = "PASSWORDMARKER9x"


def _proxied_env(proxy: LoggingProxy, base_url: str | None = None) -> dict[str, str]:
    env = launcher_env(base_url, **{name: proxy.url for name in PROXY_NAMES})
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    return env


@pytest.mark.slow
def test_auth_check_sends_nothing_in_clear_text_off_loopback_exactly_like_run(
    tmp_path: Path,
) -> None:
    write_manifest(tmp_path / "m.yaml", 1)
    with LoggingProxy() as proxy:  # any attempt would go through it: none may
        env = _proxied_env(proxy)
        flag = ("--base-url", "http://devin.example.invalid")
        checked = run_launcher("auth", "check", *flag, env=env)
        ran = run_launcher("run", str(tmp_path), *flag, "--ledger", str(tmp_path / "l"), env=env)
    assert (checked.returncode, ran.returncode) == (2, 2)
    refusal = "refusing to send the API key in clear text to http://devin.example.invalid"
    assert refusal in checked.stderr and refusal in ran.stderr
    assert checked.stdout == ""
    assert proxy.connections == 0 and not proxy.received


@pytest.mark.slow
def test_auth_check_on_loopback_never_goes_through_a_proxy(make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox()
    with LoggingProxy() as proxy:
        checked = run_launcher("auth", "check", env=_proxied_env(proxy, sb.base_url))
    assert checked.returncode == 0, checked.stderr
    assert proxy.connections == 0 and sb.stats()["list_gets"] == 1


@pytest.mark.slow
def test_a_password_in_the_base_url_is_refused_and_never_shown(
    tmp_path: Path, make_sandbox: MakeSandbox
) -> None:
    """httpx would send `user:password@` as Basic auth: exit 2 before any request, and the
    password is in no output."""
    sb = make_sandbox()
    write_manifest(tmp_path / "m.yaml", 1)
    with_password = sb.base_url.replace("http://", f"http://admin:{PASSWORD}@")
    ledger = str(tmp_path / "l.jsonl")
    runs = [
        run_launcher("auth", "check", "--base-url", with_password, env=launcher_env()),
        run_launcher("auth", "check", env=launcher_env(with_password)),
        run_launcher("run", str(tmp_path), "--ledger", ledger, env=launcher_env(with_password)),
        run_launcher("watch", str(tmp_path), "--ledger", ledger, env=launcher_env(with_password)),
    ]
    for done in runs:
        assert done.returncode == 2, done.stderr
        assert "holds a user name or password" in done.stderr
        assert "***@127.0.0.1" in done.stderr
        assert PASSWORD not in done.stdout + done.stderr
    assert sb.stats()["requests"] == 0 and sb.stats()["list_gets"] == 0
    assert not Path(ledger).exists()
