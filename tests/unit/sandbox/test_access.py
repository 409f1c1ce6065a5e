"""The sandbox's own routes: /_sandbox/* needs the bearer token like the API routes, a
Host header that is not the bound address is refused (DNS rebinding), and the public
default key is refused on an address other machines reach."""

from __future__ import annotations

import httpx
import pytest

from launcher.cli import main
from launcher.sandbox.config import DEFAULT_API_KEY, SandboxConfig
from launcher.sandbox.server import running_sandbox

KEY = "sandbox-test-key-5f2c"


def test_sandbox_routes_need_the_token_and_a_host_of_the_bound_address() -> None:
    config = SandboxConfig(host="127.0.0.1", port=0, api_key=KEY)
    with running_sandbox(config) as sb, httpx.Client(base_url=sb.base_url) as c:
        sid = sb.list_sessions() or None
        assert sid is None
        good = {"Authorization": f"Bearer {KEY}"}
        created = c.post("/v1/sessions", json={"prompt": "p"}, headers=good).json()
        for method, path in (
            ("POST", "/_sandbox/reset"),
            ("GET", "/_sandbox/stats"),
            ("GET", "/_sandbox/requests"),
            ("POST", f"/_sandbox/sessions/{created['session_id']}"),
        ):
            for headers in ({}, {"Authorization": "Bearer wrong-key"}):
                answer = c.request(method, path, headers=headers, json={})
                assert answer.status_code == 401, (method, path, headers)
        assert sb.stats()["sessions"] == 1  # the reset without the token did nothing
        assert c.post("/_sandbox/reset", headers=good).status_code == 200
        assert sb.stats()["sessions"] == 0
        for host in ("evil.test", "127.0.0.1.evil.test"):
            rebound = {**good, "Host": host}
            assert c.get("/v1/sessions", headers=rebound).status_code == 400
            assert c.get("/_sandbox/stats", headers=rebound).status_code == 400
        assert c.get("/v1/sessions", headers={**good, "Host": "localhost"}).status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "sandbox.example"])
def test_the_default_key_is_refused_off_loopback(
    host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="default --api-key is public"):
        SandboxConfig(host=host, api_key=DEFAULT_API_KEY)
    assert main(["sandbox", "--host", host]) == 2
    assert "pass --api-key with a key of your own" in capsys.readouterr().err
    SandboxConfig(host=host, api_key=KEY)  # a key of one's own is fine
    SandboxConfig(host="::1", api_key=DEFAULT_API_KEY)  # and loopback with the default
