"""Command line: argparse → one command function → exit code. No logic lives here.

Modules are imported inside each command so that `launcher validate` never pays for
httpx or uvicorn, and tests call `main([...])` directly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from launcher.errors import ExitCode, LauncherError


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people, json for scripts (one JSON document on stdout)",
    )


def _cmd_validate(args: argparse.Namespace) -> int:
    from launcher import report, validate

    result = validate.check(args.paths)
    report.print_check(result, args.format)
    return ExitCode.USAGE if result.diagnostics else ExitCode.OK


def _cmd_plan(args: argparse.Namespace) -> int:
    from launcher import ledger, plan, report, validate

    result = validate.check(args.paths, run_key=args.run_key)
    if result.diagnostics:
        report.print_check(result, args.format)
        return ExitCode.USAGE
    entries = plan.select_entries(result.entries, args.select)
    state = ledger.read_state(args.ledger)
    report.warn_untagged(entries)
    items = plan.make_plan(entries, state)
    report.print_plan(items, args.format, show_requests=args.show_requests)
    return ExitCode.OK


def _cmd_run(args: argparse.Namespace) -> int:
    from launcher import runner

    return runner.run_command(args)


def _cmd_follow(args: argparse.Namespace) -> int:
    from launcher.follow import commands

    command: Callable[[argparse.Namespace], int] = getattr(commands, f"{args.command}_command")
    return command(args)


def _add_watch_options(p: argparse.ArgumentParser, timeout_flag: str = "--timeout") -> None:
    p.add_argument(
        "--poll-interval",
        type=float,
        default=20.0,
        metavar="S",
        help="seconds between polls, ±20%% jitter; longer after 429/5xx (20)",
    )
    p.add_argument(
        timeout_flag,
        dest="watch_timeout",
        type=float,
        default=None,
        metavar="S",
        help="stop watching after S seconds; unsettled entries then count as not ended well",
    )
    p.add_argument(
        "--blocked-ok",
        action="store_true",
        help="count a blocked session (waiting for a person) as ended well",
    )


def _add_follow_common(p: argparse.ArgumentParser, *, api: bool = True) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help=PATH_HELP)
    p.add_argument("--ledger", default="launcher-ledger.jsonl", metavar="F", help=LEDGER_HELP)
    p.add_argument("--run-key", default="", metavar="K", help="the run key `run` was given")
    p.add_argument(
        "--select",
        action="append",
        default=None,
        metavar="GLOB",
        help="only entries whose name matches (repeatable)",
    )
    if api:
        p.add_argument(
            "--base-url",
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


def _add_follow_parsers(sub: Any) -> None:
    p = sub.add_parser("watch", help="follow created sessions until they settle")
    _add_follow_common(p)
    _add_watch_options(p)
    _add_format(p)
    p.set_defaults(func=_cmd_follow)

    p = sub.add_parser("results", help="one record per entry: status, PR, structured output")
    _add_follow_common(p, api=False)
    p.add_argument("--format", choices=("jsonl", "csv", "json"), default="jsonl", help="(jsonl)")
    p.set_defaults(func=_cmd_follow)

    p = sub.add_parser("cancel", help="terminate the entries' sessions still active")
    _add_follow_common(p)
    p.set_defaults(func=_cmd_follow)

    p = sub.add_parser("message", help="send the same follow-up to each selected session")
    _add_follow_common(p)
    p.add_argument("--status", default=None, metavar="S", help="only sessions now in status S")
    p.add_argument("--file", default=None, metavar="F", help="read the message from F")
    p.add_argument("--text", default=None, metavar="TEXT", help="the message")
    p.set_defaults(func=_cmd_follow)


def _cmd_ledger_summary(args: argparse.Namespace) -> int:
    from launcher import ledger, report

    summary = ledger.summarize(args.ledger_file)
    report.print_ledger_summary(summary, args.format)
    return ExitCode.FAILED if summary.has_problems else ExitCode.OK


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from launcher.sandbox import server

    return server.serve_command(args)


PATH_HELP = "a manifest file, or a folder searched recursively for *.yaml/*.yml"
LEDGER_HELP = "the ledger (default: %(default)s)"
RUN_KEY_HELP = "part of every dispatch key: a new value dispatches everything again"
EPILOG = """\
The API key is read from $DEVIN_API_KEY (or --api-key-env NAME), never from an argument.

exit codes: 0 all done · 1 some entries failed or are in doubt · 2 invalid manifests or
usage · 3 credentials rejected · 4 ledger held by another run · 130 interrupted
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launcher",
        description="Dispatch Devin sessions in bulk from YAML manifests.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check manifests; report every error")
    p.add_argument("paths", nargs="+", metavar="PATH", help=PATH_HELP)
    _add_format(p)
    p.set_defaults(func=_cmd_validate)

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
    _add_format(p)
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("run", help="validate, then dispatch every entry once")
    p.add_argument("paths", nargs="+", metavar="PATH", help=PATH_HELP)
    p.add_argument("--ledger", default="launcher-ledger.jsonl", metavar="F", help=LEDGER_HELP)
    p.add_argument(
        "--base-url",
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
        "--concurrency", type=int, default=8, metavar="N", help="requests in flight at most (8)"
    )
    p.add_argument(
        "--rate",
        default=None,
        metavar="R",
        help="requests per second, or R/m per minute (default: adapt)",
    )
    p.add_argument(
        "--max-attempts", type=int, default=8, metavar="N", help="attempts per entry per run (8)"
    )
    p.add_argument(
        "--max-wait",
        type=float,
        default=300.0,
        metavar="S",
        help="longest single wait; an entry needing more fails with that reason (300)",
    )
    p.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="per request, seconds (30)"
    )
    p.add_argument("--run-key", default="", metavar="K", help=RUN_KEY_HELP)
    p.add_argument(
        "--reconcile-delay",
        type=float,
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
    p.add_argument(
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
    p.add_argument(
        "--wait",
        action="store_true",
        help="then watch the entries until they settle, holding the ledger (see watch)",
    )
    p.add_argument(
        "--max-active",
        type=_at_least_one,
        default=None,
        metavar="N",
        help="at most N of the run's sessions working at once; the next entry starts as "
        "soon as one settles (implies --wait)",
    )
    p.add_argument(
        "--terminate-settled",
        action="store_true",
        help="with --wait/--max-active: terminate each session once its final result is "
        "recorded, freeing its slot (a blocked session can then no longer be answered)",
    )
    p.add_argument(
        "--probe-interval",
        type=float,
        default=180.0,
        metavar="S",
        help="when sessions this run did not start hold every slot, try a create every S "
        "seconds (180)",
    )
    _add_watch_options(p, "--wait-timeout")
    _add_format(p)
    p.set_defaults(func=_cmd_run)

    _add_follow_parsers(sub)

    p = sub.add_parser("ledger", help="read a ledger")
    lsub = p.add_subparsers(dest="ledger_command", required=True, metavar="SUBCOMMAND")
    q = lsub.add_parser("summary", help="counts by outcome, failures with their errors")
    q.add_argument("ledger_file", metavar="F", help="the ledger file a run wrote")
    _add_format(q)
    q.set_defaults(func=_cmd_ledger_summary)

    p = sub.add_parser("sandbox", help="serve a local stand-in of the Devin v1 API")
    from launcher.sandbox.config import add_arguments

    add_arguments(p)
    p.set_defaults(func=_cmd_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else ExitCode.USAGE
    try:
        return int(args.func(args))
    except LauncherError as exc:
        print(f"launcher: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("launcher: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:  # `launcher plan ... | head`
        return int(ExitCode.OK)
