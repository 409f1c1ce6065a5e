"""The one connection: base URL precedence, the API generation and organisation, the key's
checks, the https and proxy rules, user info in URLs. Values only: no sockets."""

from __future__ import annotations

import anyio
import pytest

from launcher.api.address import Asked, check_base_url, shown
from launcher.api.connection import resolve
from launcher.errors import UsageError

APK = "apk_user_abcdefgh12345"
COG = "cog_abcdefgh12345678"


def _env(key: str = APK, **extra: str) -> dict[str, str]:
    return {"DEVIN_API_KEY": key, **extra}


def test_base_url_precedence_flag_then_environment_then_the_api() -> None:
    env = _env(DEVIN_BASE_URL="https://gateway.example.com/")
    assert resolve(Asked(base_url="https://flag.example.com"), env)[0].base_url == (
        "https://flag.example.com"
    )
    assert resolve(Asked(), env)[0].base_url == "https://gateway.example.com"
    assert resolve(Asked(), _env())[0].base_url == "https://api.devin.ai"


@pytest.mark.parametrize(
    ("asked", "env", "generation", "org"),
    [
        (Asked(), _env(), "v1", None),
        (Asked(), _env(COG, DEVIN_ORG_ID="org-1"), "v3", "org-1"),
        (Asked(api="v3", org="org-2"), _env("sk_other_key_12345", DEVIN_ORG_ID="x"), "v3", "org-2"),
        (Asked(), _env(DEVIN_BASE_URL="https://h.example/v1", DEVIN_ORG_ID="org-1"), "v1", None),
        (Asked(base_url="https://h.example/v3/"), _env(COG, DEVIN_ORG_ID="o"), "v3", "o"),
    ],
)
def test_the_generation_comes_from_the_flag_the_url_or_the_key(
    asked: Asked, env: dict[str, str], generation: str, org: str | None
) -> None:
    conn = resolve(asked, env)[0]
    assert (conn.generation, conn.org) == (generation, org)
    assert conn.target.generation == generation
    assert not conn.base_url.endswith(("/v1", "/v3"))


def test_a_v3_connection_without_an_organisation_names_the_missing_piece() -> None:
    with pytest.raises(UsageError) as caught:
        resolve(Asked(), _env(COG))
    message = str(caught.value)
    assert "v3 needs the organisation: set DEVIN_ORG_ID or pass --org" in message
    assert "\n" not in message and COG not in message


@pytest.mark.parametrize(
    ("asked", "env", "words"),
    [
        (Asked(api="v1"), _env(COG), "--api v1 selects the Devin API v1, but the key"),
        (Asked(api="v3", org="o"), _env(APK), "--api v3 selects the Devin API v3, but the key"),
        (Asked(base_url="https://h.example/v1"), _env(COG), "the base URL's /v1 selects"),
    ],
)
def test_choices_that_disagree_are_one_line(asked: Asked, env: dict[str, str], words: str) -> None:
    with pytest.raises(UsageError, match=words) as caught:
        resolve(asked, env)
    assert env["DEVIN_API_KEY"] not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:PASSWORDMARKER@api.devin.ai",
        "https://PASSWORDMARKER@api.devin.ai/v1",
        "http://a:PASSWORDMARKER@127.0.0.1:8080",
    ],
)
def test_user_info_in_a_base_url_is_refused_without_showing_it(url: str) -> None:
    for asked, env in ((Asked(base_url=url), _env()), (Asked(), _env(DEVIN_BASE_URL=url))):
        with pytest.raises(UsageError, match="holds a user name or password") as caught:
            resolve(asked, env)
        assert "PASSWORDMARKER" not in str(caught.value) and "***@" in str(caught.value)
    assert "PASSWORDMARKER" not in shown(url)


def test_other_urls_are_refused_naming_their_source() -> None:
    for url in ("ftp://x.example", "https://", "https://h.example/v2", "https://h.example/?a=1"):
        with pytest.raises(UsageError, match=r"^--base-url"):
            check_base_url(url, "--base-url")


def test_plain_http_is_refused_off_loopback_unless_allowed() -> None:
    with pytest.raises(UsageError, match="refusing to send the API key in clear text"):
        resolve(Asked(base_url="http://devin.example.invalid"), _env())
    allowed = _env(LAUNCHER_ALLOW_INSECURE_HTTP="1")
    assert resolve(Asked(base_url="http://devin.example.invalid"), allowed)[0].base_url
    assert resolve(Asked(base_url="http://127.0.0.1:9"), _env())[0].base_url


def test_the_key_is_checked_once_for_every_command() -> None:
    conn, warnings = resolve(Asked(), _env(APK + "\r\n"))
    assert conn.api_key == APK and "line breaks around the key" in warnings[0]
    with pytest.raises(UsageError, match="is not set"):
        resolve(Asked(), {})
    with pytest.raises(UsageError, match="control or space"):
        resolve(Asked(), _env("apk_a\x1b[2Jbcdefgh"))


def test_the_redactor_masks_the_key_and_the_secrets() -> None:
    conn, _ = resolve(Asked(), _env(), ["s3cret-value-long"])
    assert conn.redact(f"{APK} and s3cret-value-long") == "*** and ***"


def test_loopback_ignores_proxies_from_the_environment_and_nothing_follows_redirects() -> None:
    async def opened() -> tuple[bool, bool, bool]:
        local = resolve(Asked(base_url="http://127.0.0.1:9"), _env())[0].open_http(5)
        remote = resolve(Asked(), _env())[0].open_http(5)
        async with local, remote:
            return local.trust_env, remote.trust_env, remote.follow_redirects

    assert anyio.run(opened) == (False, True, False)


def test_the_sandbox_gets_its_own_token_never_the_users_key() -> None:
    conn, _ = resolve(Asked(sandbox=True, api="v3"), _env(), token="sandbox-token-123")
    assert conn.api_key == "cog_sandbox-token-123" and conn.target.sandbox  # v3 takes cog_
    assert conn.org == "org-sandbox"
    assert conn.at("http://127.0.0.1:4321").base_url == "http://127.0.0.1:4321"
