"""`launcher auth check`: does the API key work? One GET, as `gh auth status` does.

The answer names the variable the key came from and the URL asked, never the key.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from launcher.dispatch import settings
from launcher.errors import ExitCode, UsageError

PROBE = "/v1/sessions"  # the cheapest authenticated read: one page of one session


def add_parser(
    sub: Any,  # argparse's _SubParsersAction, which has no public type
    add_format: Callable[[argparse.ArgumentParser], None],
    configurable: Callable[..., None],
) -> None:
    p = sub.add_parser("auth", help="check credentials")
    p.set_defaults(subparser=p)
    asub = p.add_subparsers(dest="auth_command", required=True, metavar="SUBCOMMAND")
    q = asub.add_parser(
        "check", help="tell with one request whether the API key works (exit 0, or 3 if not)"
    )
    configurable(q, "base-url", type=settings.base_url_flag)
    configurable(q, "api-key-env")
    q.add_argument(
        "--timeout", type=settings.seconds, default=10.0, metavar="S", help="seconds (10)"
    )
    add_format(q)
    q.set_defaults(func=check)


def check(args: argparse.Namespace) -> int:
    import httpx

    environ = dict(os.environ)
    name = args.api_key_env
    base_url = settings.base_url_from(args.base_url, environ)
    key = environ.get(name, "")
    if not key:
        raise UsageError(f"{name} is not set; set it to your Devin API key and run again")
    if key != key.strip() or not key.isascii() or not key.isprintable():
        raise UsageError(
            f"{name} holds spaces, line breaks or non-ASCII characters around or in the key; "
            "set it to the key alone (e.g. without the newline of the file it came from)"
        )
    facts: dict[str, Any] = {"api_key_env": name, "base_url": base_url, "status": None}
    try:
        with httpx.Client(base_url=base_url, timeout=args.timeout) as http:
            response = http.get(
                PROBE, params={"limit": 1}, headers={"Authorization": f"Bearer {key}"}
            )
    except httpx.HTTPError as exc:
        message = f"could not ask {base_url} ({type(exc).__name__}); is the URL right?"
        args.reporter.auth(facts, message, int(ExitCode.FAILED))
        return int(ExitCode.FAILED)
    facts["status"] = response.status_code
    if response.status_code in (401, 403):
        code = ExitCode.AUTH
        message = (
            f"the API at {base_url} rejected the key in {name} (HTTP {response.status_code}); "
            "set a valid key"
        )
    elif response.is_success:
        code = ExitCode.OK
        message = f"the key in {name} works for {base_url} (HTTP {response.status_code})"
    else:
        code = ExitCode.FAILED
        message = (
            f"could not tell whether the key in {name} works: {base_url} answered HTTP "
            f"{response.status_code}"
        )
    args.reporter.auth(facts, message, int(code))
    return int(code)
