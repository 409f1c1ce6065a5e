"""Where the API is: the base URL's rules (http(s), no user name or password in it, the API
generation its path may name, plain http only on loopback) and where a URL points. Light
on purpose: the flag converters use it without loading httpx."""

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
