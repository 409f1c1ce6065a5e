"""The one connection to the Devin API. Every command that talks to the API (`auth check`
included) resolves it here, once: the base URL and its precedence, the API generation
and organisation, the key and its checks, the https rule, proxies and the redactor. It is
the only place that opens an httpx client.

Precedence: `--base-url`, then `$DEVIN_BASE_URL`, then https://api.devin.ai. The
generation: `--api`, a base URL ending in `/v1` or `/v3`, or the key's prefix (`apk_`: v1,
`cog_`: v3); they must agree, and v1 is the default. v3 needs the organisation:
`--org`, then `$DEVIN_ORG_ID`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from launcher.api.address import (
    ORG_ENV,
    Asked,
    base_url_from,
    check_secure,
    choose_generation,
    is_loopback,
    shown,
)
from launcher.api.redact import Redactor, api_key_from
from launcher.api.target import ApiTarget, Generation
from launcher.errors import UsageError

if TYPE_CHECKING:  # httpx is loaded by the first command that talks to the API, not before
    import httpx

    from launcher.api.followclient import FollowClient

SANDBOX_ORG = "org-sandbox"  # the embedded sandbox's organisation when none is given
_ORG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class Connection:
    """Where the API is and how to speak to it, every rule applied."""

    target: ApiTarget
    api_key: str
    redact: Redactor
    key_env: str = "DEVIN_API_KEY"

    @property
    def base_url(self) -> str:
        return self.target.base_url

    @property
    def generation(self) -> Generation:
        return self.target.generation

    @property
    def org(self) -> str | None:
        return self.target.org

    def at(self, base_url: str) -> Connection:
        """The same connection pointed at `base_url` (an embedded sandbox's port)."""
        return replace(self, target=replace(self.target, base_url=base_url))

    def open_http(self, timeout: float, *, concurrency: int | None = None) -> httpx.AsyncClient:
        """The one way the launcher opens connections to the API. Loopback (the sandbox, a
        local gateway) is never sent through a proxy from the environment: HTTP_PROXY would
        otherwise receive the key and every secret."""
        import httpx

        # Without a concurrency (follow-through), httpx's own bounds: an unbounded pool
        # makes every request walk every idle connection.
        limits = httpx.Limits(
            max_connections=concurrency or 100,
            max_keepalive_connections=concurrency or 20,
            keepalive_expiry=4.0,
        )
        return httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            limits=limits,
            trust_env=not is_loopback(self.base_url),
            follow_redirects=False,
        )

    @asynccontextmanager
    async def client(
        self, timeout: float, *, concurrency: int | None = None
    ) -> AsyncIterator[FollowClient]:
        """A client of the API for the block's duration."""
        from launcher.api.followclient import FollowClient

        async with self.open_http(timeout, concurrency=concurrency) as http:
            yield FollowClient(
                http,
                self.api_key,
                self.redact,
                deadline=timeout,
                generation=self.generation,
                org=self.org,
            )


def resolve(
    asked: Asked, environ: Mapping[str, str], secrets: Iterable[str] = (), *, token: str = ""
) -> tuple[Connection, list[str]]:
    """The connection, and warnings to show; a UsageError (exit 2) naming the one thing to
    fix when a rule is broken. With `asked.sandbox`, `token` is the embedded sandbox's own
    key (the user's is never sent to it) and the base URL is set once it listens (`at`)."""
    warnings: list[str] = []
    if asked.sandbox:
        base, key, key_env = None, token, ""
    else:
        base = base_url_from(asked.base_url, environ, asked.base_url_source)
        check_secure(base.url, environ)
        key, warnings = api_key_from(environ, asked.api_key_env)
        key_env = asked.api_key_env
    generation = choose_generation(asked, base.generation if base else None, key, key_env)[0]
    if asked.sandbox and generation == "v3":
        key = f"cog_{key}"  # the sandbox's v3 side takes service-user tokens only
    org = _org(asked, environ, generation)
    url = base.url if base else "http://127.0.0.1"
    target = ApiTarget(url, generation, org if generation == "v3" else None, asked.sandbox)
    redact = Redactor([key, *secrets])
    return Connection(target, key, redact, key_env), warnings


def _org(asked: Asked, environ: Mapping[str, str], generation: Generation) -> str | None:
    org = (asked.org or environ.get(ORG_ENV, "")).strip()
    if generation != "v3":
        return None
    if not org:
        if asked.sandbox:
            return SANDBOX_ORG
        raise UsageError(
            f"the Devin API v3 needs the organisation: set {ORG_ENV} or pass --org ORG_ID "
            "(Settings > Service users shows it)"
        )
    if not _ORG.fullmatch(org):
        source = "--org" if asked.org else ORG_ENV
        raise UsageError(
            f"{source} is not an organisation id (letters, digits, '-', '_' or '.', at most "
            f"128); set it to your organisation's id, e.g. org-abc123 (got {shown(org)[:40]!r})"
        )
    return org
