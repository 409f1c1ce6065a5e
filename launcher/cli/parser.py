"""The argparse parser of every command; each flag's converter checks it (`type=`)."""

from __future__ import annotations

import argparse
from typing import NoReturn

from launcher import __version__
from launcher.cli import auth, commands
from launcher.dispatch import settings

COMMANDS = ("validate", "plan", "run", "ledger", "sandbox", "auth")


class CliUsageError(Exception):
    """A usage error, with the (sub)parser whose usage the user needs to see."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class Parser(argparse.ArgumentParser):
    """argparse, except that an error is raised (not printed and exited) so that `main`
    can answer it in the format asked for, with this subcommand's usage."""

    def error(self, message: str) -> NoReturn:
        raise CliUsageError(self, message)


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people, json for scripts (one JSON object on stdout, on every exit)",
    )
    p.add_argument(
        "-q", "--quiet", action="count", default=0, help="only warnings and errors on stderr"
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more detail on stderr")
    p.set_defaults(subparser=p)


PATH_HELP = "a manifest file, or a folder searched recursively for *.yaml/*.yml"
LEDGER_HELP = "the ledger (default: %(default)s)"
RUN_KEY_HELP = "part of every dispatch key: a new value dispatches everything again"
EPILOG = """\
The API key is read from $DEVIN_API_KEY (or --api-key-env NAME), never from an argument.

exit codes: 0 all done · 1 some entries failed or are in doubt · 2 invalid manifests or
usage · 3 credentials rejected · 4 ledger held by another run · 10 plan
--detailed-exitcode: something to create · 130 interrupted
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="launcher",
        description="Dispatch Devin sessions in bulk from YAML manifests.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"launcher {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check manifests; report every error")
    p.add_argument("paths", nargs="+", metavar="PATH", help=PATH_HELP)
    _add_format(p)
    p.set_defaults(func=commands.validate)

    p = sub.add_parser("plan", help="show what `run` would do")
    p.add_argument("paths", nargs="+", metavar="PATH", help=PATH_HELP)
    p.add_argument("--ledger", default="launcher-ledger.jsonl", metavar="F", help=LEDGER_HELP)
    p.add_argument("--run-key", default="", metavar="K", help=RUN_KEY_HELP)
    p.add_argument(
        "--select",
        action="append",
        default=None,
        metavar="GLOB",
        help="only entries whose name matches (repeatable), as with run",
    )
    p.add_argument("--show-requests", action="store_true", help="print request bodies")
    p.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 10 when some entry would be created, 0 when none (errors keep their codes)",
    )
    _add_format(p)
    p.set_defaults(func=commands.plan)

    p = sub.add_parser("run", help="validate, then dispatch every entry once")
    p.add_argument("paths", nargs="+", metavar="PATH", help=PATH_HELP)
    p.add_argument("--ledger", default="launcher-ledger.jsonl", metavar="F", help=LEDGER_HELP)
    target = p.add_mutually_exclusive_group()  # an embedded sandbox, or a base URL
    target.add_argument(
        "--base-url",
        type=settings.base_url_flag,
        default=None,
        metavar="URL",
        help="API base URL (default $DEVIN_BASE_URL or https://api.devin.ai)",
    )
    p.add_argument(
        "--api-key-env",
        default="DEVIN_API_KEY",
        metavar="NAME",
        help="environment variable holding the API key",
    )
    p.add_argument(
        "--concurrency",
        type=settings.at_least_one,
        default=8,
        metavar="N",
        help="requests in flight at most (8)",
    )
    p.add_argument(
        "--rate",
        type=settings.rate,
        default=None,
        metavar="R",
        help="requests per second, or R/m per minute (default: adapt)",
    )
    p.add_argument(
        "--max-attempts",
        type=settings.at_least_one,
        default=8,
        metavar="N",
        help="attempts per entry per run (8)",
    )
    p.add_argument(
        "--max-wait",
        type=settings.seconds,
        default=300.0,
        metavar="S",
        help="longest single wait; an entry needing more fails with that reason (300)",
    )
    p.add_argument(
        "--timeout",
        type=settings.seconds,
        default=30.0,
        metavar="S",
        help="per request, seconds (30)",
    )
    p.add_argument("--run-key", default="", metavar="K", help=RUN_KEY_HELP)
    p.add_argument(
        "--reconcile-delay",
        type=settings.non_negative_seconds,
        default=2.0,
        metavar="S",
        help="seconds to wait before looking up a session whose creation is in doubt",
    )
    p.add_argument(
        "--select",
        action="append",
        default=None,
        metavar="GLOB",
        help="only entries whose name matches (repeatable)",
    )
    target.add_argument(
        "--sandbox",
        action="store_true",
        help="start the embedded sandbox on a free loopback port and use it",
    )
    p.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="live status line (auto: when stderr is a terminal)",
    )
    # Not a feature: a user who expects one (as in many tools) is pointed to `plan`.
    p.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)
    _add_format(p)
    p.set_defaults(func=commands.run)

    p = sub.add_parser("ledger", help="read a ledger")
    p.set_defaults(subparser=p)
    lsub = p.add_subparsers(dest="ledger_command", required=True, metavar="SUBCOMMAND")
    q = lsub.add_parser("summary", help="counts by outcome, failures with their errors")
    q.add_argument("ledger_file", metavar="F", help="the ledger file a run wrote")
    q.add_argument(
        "--manifests",
        nargs="+",
        metavar="PATH",
        help="also count the entries of these manifests that the ledger never saw as pending",
    )
    q.add_argument(
        "--run-key", default="", metavar="K", help="the --run-key of the run (with --manifests)"
    )
    _add_format(q)
    q.set_defaults(func=commands.ledger_summary)

    auth.add_parser(sub, _add_format)

    p = sub.add_parser("sandbox", help="serve a local stand-in of the Devin v1 API")
    from launcher.sandbox.config import add_arguments

    add_arguments(p)
    p.set_defaults(func=commands.sandbox, subparser=p)
    return parser
