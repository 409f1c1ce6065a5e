"""`launcher auth check`: does the API key work? One GET, as `gh auth status` does.

It reaches the API through the same connection as `run` (every rule: https, proxies, the
key's checks, the generation and organisation). The answer names the variable the key
came from and the URL asked, never the key.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from launcher.dispatch import settings
from launcher.errors import ExitCode


def add_parser(
    sub: Any,  # argparse's _SubParsersAction, which has no public type
    add_format: Callable[[argparse.ArgumentParser], None],
    add_api_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    p = sub.add_parser("auth", help="check credentials")
    p.set_defaults(subparser=p)
    asub = p.add_subparsers(dest="auth_command", required=True, metavar="SUBCOMMAND")
    q = asub.add_parser(
        "check", help="tell with one request whether the API key works (exit 0, or 3 if not)"
    )
    add_api_options(q)
    q.add_argument(
        "--timeout", type=settings.seconds, default=10.0, metavar="S", help="seconds (10)"
    )
    add_format(q)
    q.set_defaults(func=check)


def check(args: argparse.Namespace) -> int:
    import anyio

    from launcher.api.address import Asked
    from launcher.api.client import TransportFailure
    from launcher.api.connection import Connection, resolve

    where_from = args.config["base-url"].where if "base-url" in args.config else ""
    asked = Asked(args.base_url, args.api_key_env, where_from or "--base-url", args.api, args.org)
    conn, warnings = resolve(asked, dict(os.environ))
    for warning in warnings:
        print(f"launcher: warning: {warning}", file=sys.stderr)
    name, where = args.api_key_env, conn.target.label
    facts: dict[str, Any] = {
        "api_key_env": name,
        "base_url": conn.base_url,
        "generation": conn.generation,
        "org": conn.org,
        "status": None,
    }

    async def probe(c: Connection) -> int:
        async with c.client(args.timeout) as client:
            return await client.probe()

    try:
        status = anyio.run(probe, conn)
    except TransportFailure as exc:
        message = f"could not ask {where} ({conn.redact.outside(str(exc))}); is the URL right?"
        args.reporter.auth(facts, message, int(ExitCode.FAILED))
        return int(ExitCode.FAILED)
    facts["status"] = status
    if status in (401, 403):
        code = ExitCode.AUTH
        message = f"the API at {where} rejected the key in {name} (HTTP {status}); set a valid key"
    elif 200 <= status < 300:
        code = ExitCode.OK
        message = f"the key in {name} works for {where} (HTTP {status})"
    else:
        code = ExitCode.FAILED
        message = (
            f"could not tell whether the key in {name} works: {where} answered HTTP {status}"
            + (f"; {_fix(status)}" if _fix(status) else "")
        )
    args.reporter.auth(facts, message, int(code))
    return int(code)


def _fix(status: int) -> str:
    if status in (404, 405):
        return "a wrong base URL or API generation? (--base-url, --api)"
    return ""
