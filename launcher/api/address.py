"""Where the API is and which one: the base URL's rules (http(s), no user name or password
in it, the API generation its path may name, plain http only on loopback), where a URL
points, and the generation the flags, the URL and the key's prefix choose. Light on
purpose: the flag converters and `validate` use it without loading httpx."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from launcher.api.target import Generation
from launcher.errors import UsageError

DEFAULT_BASE_URL = "https://api.devin.ai"
BASE_URL_ENV = "DEVIN_BASE_URL"
INSECURE_ENV = "LAUNCHER_ALLOW_INSECURE_HTTP"  # =1: allow http:// to a host not on loopback
ORG_ENV = "DEVIN_ORG_ID"  # the organisation, which the API v3 needs
KEY_PREFIXES: dict[str, Generation] = {"cog_": "v3", "apk_": "v1"}

_USERINFO = re.compile(r"(?<=//)[^/?#]*@")
_VERSION = re.compile(r"/(v\d+(?:beta\d+)?)$")


@dataclass(frozen=True)
class BaseUrl:
    """A checked base URL: no trailing slash nor API version; `generation` is the version
    its path named (`/v1`, `/v3`), None when it named none."""

    url: str
    generation: Generation | None = None


def shown(url: str) -> str:
    """`url` safe to print: any user name or password in it masked."""
    return _USERINFO.sub("***@", url)


def is_loopback(url: str) -> bool:
    """Whether `url`'s host is this machine (127.0.0.0/8, ::1, localhost)."""
    host = (urllib.parse.urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, source: str) -> BaseUrl:
    """`url` checked; a UsageError naming `source` (never showing a password) unless it is
    http(s) without user info, and ends in no version or in /v1 or /v3."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in url.strip()):
        raise UsageError(
            f"{source} {shown(url)!r} is not an http(s) URL; write it like https://api.devin.ai"
        )
    if "@" in parts.netloc:
        # httpx would send it as Basic auth, beside (or instead of) the API key.
        raise UsageError(
            f"{source} {shown(url)!r} holds a user name or password; the API key is sent "
            "in its own header, so remove the `user:password@` part"
        )
    if parts.query or parts.fragment:
        raise UsageError(
            f"{source} {shown(url)!r} has a query or fragment; write the base URL alone, "
            "like https://api.devin.ai"
        )
    text = url.strip().rstrip("/")
    # Other Devin tools read DEVIN_BASE_URL with the API version in it. The launcher adds
    # the version itself: a trailing /v1 or /v3 names the API to speak, others are refused.
    version = _VERSION.search(text)
    if version is None:
        return BaseUrl(text)
    name = version.group(1)
    if name in ("v1", "v3"):
        generation: Generation = "v1" if name == "v1" else "v3"
        return BaseUrl(text[: -len(name) - 1], generation)
    raise UsageError(
        f"{source} {shown(url)!r} ends in /{name}, but the launcher speaks the Devin API v1 "
        f"or v3 (it adds /v1 or /v3 itself); drop the /{name}, e.g. https://api.devin.ai"
    )


def check_secure(url: str, environ: Mapping[str, str]) -> None:
    """Refuse plain http:// off this machine: the API key would cross the network in clear."""
    if environ.get(INSECURE_ENV, "") not in ("", "0"):
        return
    if url.startswith("http://") and not is_loopback(url):
        raise UsageError(
            f"refusing to send the API key in clear text to {shown(url)}: use https://, or "
            f"set {INSECURE_ENV}=1 if this network path is trusted (a local gateway, a tunnel)"
        )


def base_url_from(
    given: str | None, environ: Mapping[str, str], source: str = "--base-url"
) -> BaseUrl:
    """The URL given (by `source`: the flag, a variable or the project file), else
    $DEVIN_BASE_URL, else the API; checked either way."""
    if given:
        return check_base_url(given, source)
    if environ.get(BASE_URL_ENV):
        return check_base_url(environ[BASE_URL_ENV], BASE_URL_ENV)
    return BaseUrl(DEFAULT_BASE_URL)


@dataclass(frozen=True)
class Asked:
    """What the command line asked of the connection (flags only; the environment is read
    by `resolve`)."""

    base_url: str | None = None
    api_key_env: str = "DEVIN_API_KEY"
    base_url_source: str = "--base-url"  # where `base_url` came from, for messages
    api: Generation | None = None
    org: str | None = None
    sandbox: bool = False  # an embedded sandbox answers, with a token of its own


def generation_of(asked: Asked, environ: Mapping[str, str]) -> tuple[Generation, str]:
    """The API generation a command would speak, and what chose it, by `resolve`'s own rules
    without needing the key or the organisation: what `validate` and `plan` check a
    manifest against. A UsageError when the choices disagree or the base URL is bad."""
    if asked.sandbox:
        return choose_generation(asked, None, "", "")
    base = base_url_from(asked.base_url, environ, asked.base_url_source)
    key = environ.get(asked.api_key_env, "").strip()
    return choose_generation(asked, base.generation, key, asked.api_key_env)


def choose_generation(
    asked: Asked, by_url: Generation | None, key: str, key_env: str
) -> tuple[Generation, str]:
    by_key = next((g for p, g in KEY_PREFIXES.items() if key.startswith(p)), None)
    said: list[tuple[Generation, str]] = []
    if asked.api:
        said.append((asked.api, f"--api {asked.api}"))
    if by_url:
        said.append((by_url, f"the base URL's /{by_url}"))
    if by_key and key_env:
        said.append((by_key, f"the key in {key_env} (a {key[:4]}… key)"))
    for generation, why in said[1:]:
        if generation != said[0][0]:
            raise UsageError(
                f"{said[0][1]} selects the Devin API {said[0][0]}, but {why} selects "
                f"{generation}; make them agree (service-user keys cog_… speak v3, "
                "apk_… keys speak v1)"
            )
    if said:
        return said[0]
    return "v1", "the default: no cog_ key, --api v3 or /v3 base URL"
