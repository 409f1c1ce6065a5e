"""The argparse parser of every command; each flag's converter checks it (`type=`)."""

from __future__ import annotations

import argparse
import difflib
import re
from typing import Any, NoReturn

import launcher
from launcher.cli import auth
from launcher.cli.followparsers import add_follow_parsers, add_rerun_parser
from launcher.cli.lazy import commands, ledger, local
from launcher.cli.options import (
    EPILOG,
    PATH_HELP,
    add_api_options,
    add_dispatch_options,
    add_format,
    add_progress,
    add_selection,
    add_verbosity,
    add_watch_options,
    configurable,
)
from launcher.dispatch import settings
from launcher.project import SETTINGS

COMMANDS = (
    "validate",
    "plan",
    "show",
    "run",
    "watch",
    "results",
    "log",
    "report",
    "cancel",
    "message",
    "rerun",
    "ledger",
    "sandbox",
    "auth",
    "completion",
    "config",
)


class _Version(argparse.Action):
    """`--version`, reading the distribution's metadata only when asked."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS) -> None:
        super().__init__(
            option_strings,
            dest,
            nargs=0,
            default=argparse.SUPPRESS,
            help="show the version and exit",
        )

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"launcher {launcher.__version__}")
        parser.exit()


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
        raise CliUsageError(self, message + self.did_you_mean(message))

    def did_you_mean(self, message: str) -> str:
        """`; did you mean `validate`?` for a mistyped subcommand, choice or flag."""
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            word = choice.group(1)
            options = re.findall(r"'([^']*)'", choice.group(2)) or choice.group(2).split(", ")
        else:
            unknown = re.search(r"unrecognized arguments: (.*)", message)
            flags = [w for w in (unknown.group(1).split() if unknown else []) if w[:1] == "-"]
            if not flags:
                return ""
            word = flags[0].split("=", 1)[0]
            options = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
        close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
        return f"; did you mean `{close[0]}`?" if close else ""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="launcher",
        description="Dispatch Devin sessions in bulk from YAML manifests.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check manifests; report every error")
    p.add_argument("paths", nargs="+", metavar="PATH", help=PATH_HELP)
    add_format(p, "github")
    add_api_options(p)  # the fields a manifest may hold depend on the API a run speaks
    p.set_defaults(func=commands.validate)

    p = sub.add_parser("plan", help="show what `run` would do")
    p.add_argument("paths", nargs="+", metavar="PATH", help=PATH_HELP)
    configurable(p, "ledger")
    add_selection(p)
    p.add_argument("--show-requests", action="store_true", help="print request bodies")
    p.add_argument(
        "--out",
        metavar="FILE",
        help="also write the plan to FILE: the exact requests, the manifests' digests and "
        "the ledger state, secrets as references; `run --plan FILE` applies it as written",
    )
    p.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 10 when some entry would be created, 0 when none (errors keep their codes)",
    )
    add_format(p)
    add_api_options(p)
    p.set_defaults(func=commands.plan)

    p = sub.add_parser("show", help="show a plan file that `plan --out` wrote")
    p.add_argument("plan_file", metavar="FILE", help="the plan file")
    p.add_argument("--show-requests", action="store_true", help="print request bodies")
    add_format(p)
    p.set_defaults(func=commands.show)

    p = sub.add_parser("run", help="validate, then dispatch every entry once")
    p.add_argument("paths", nargs="*", metavar="PATH", help=PATH_HELP)
    p.add_argument(
        "--plan",
        metavar="FILE",
        help="send exactly the requests of a plan `plan --out FILE` wrote; refused (exit 2, "
        "nothing sent) when a manifest, a secret's presence or the ledger changed since",
    )
    configurable(
        p,
        "ledger",
        help="the ledger file; with --sandbox, launcher-sandbox-ledger.jsonl unless this flag "
        "names another, so that a rehearsal never shares a real run's ledger",
    )
    target = p.add_mutually_exclusive_group()  # an embedded sandbox, or a base URL
    add_api_options(p, target)
    add_dispatch_options(p)
    add_selection(p)
    target.add_argument(
        "--sandbox",
        action="store_true",
        help="start the embedded sandbox on a free loopback port and use it",
    )
    add_progress(p)
    p.add_argument(
        "--wait",
        action="store_true",
        help="then watch the entries until they settle, holding the ledger (see watch); "
        "Ctrl-C once starts nothing new, twice terminates the run's active sessions",
    )
    configurable(
        p,
        "max-active",
        help="at most N of the run's sessions working at once; the next entry starts as "
        "soon as one settles (implies --wait)",
    )
    configurable(
        p,
        "max-acus",
        help="the batch's budget in ACUs: no session starts while the ACUs consumed plus "
        "the max_acu_limit of the sessions still working would pass N; every entry needs a "
        "max_acu_limit (implies --wait; exit 1 when the budget leaves entries unstarted)",
    )
    p.add_argument(
        "--terminate-settled",
        action="store_true",
        help="with --wait/--max-active: terminate each session once its final result is "
        "recorded, freeing its slot (a blocked session can then no longer be answered)",
    )
    p.add_argument(
        "--probe-interval",
        type=settings.seconds,
        default=180.0,
        metavar="S",
        help="when sessions this run did not start hold every slot, try a create every S "
        "seconds (180)",
    )
    add_watch_options(p)
    # Not a feature: a user who expects one (as in many tools) is pointed to `plan`.
    p.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)
    add_format(p)
    p.set_defaults(func=commands.run)

    add_follow_parsers(sub)
    add_rerun_parser(sub)

    p = sub.add_parser("ledger", help="read, merge or compact ledgers")
    p.set_defaults(subparser=p)
    lsub = p.add_subparsers(dest="ledger_command", required=True, metavar="SUBCOMMAND")
    q = lsub.add_parser("summary", help="counts by outcome, failures with their errors")
    q.add_argument(
        "ledger_files",
        nargs="+",
        metavar="F",
        help="the ledger file a run wrote; several are read as one merged ledger",
    )
    q.add_argument(
        "--manifests",
        action="append",
        default=None,
        metavar="PATH",
        help="count exactly the entries of this manifest file or folder (repeatable), those "
        "the ledger never saw as pending",
    )
    configurable(q, "run-key", help="the --run-key of the run (with --manifests)")
    add_format(q)
    q.set_defaults(func=ledger.ledger_summary)
    q = lsub.add_parser("batches", help="the batches a ledger holds: one line per run")
    q.add_argument(
        "ledger_files",
        nargs="+",
        metavar="F",
        help="the ledger file; several are read as one merged ledger (read without its lock)",
    )
    add_format(q)
    q.set_defaults(func=ledger.ledger_batches)
    q = lsub.add_parser("merge", help="one ledger from many (the shards of a batch)")
    q.add_argument("ledger_files", nargs="+", metavar="F", help="the ledgers to merge")
    q.add_argument("--output", required=True, metavar="F", help="the merged ledger: a new file")
    add_format(q)
    q.set_defaults(func=ledger.ledger_merge)
    q = lsub.add_parser("compact", help="rewrite a ledger to one line per dispatch key")
    q.add_argument("ledger_file", metavar="F", help="the ledger to compact, in place")
    add_format(q)
    q.set_defaults(func=ledger.ledger_compact)

    p = sub.add_parser("completion", help="print the shell completion script")
    p.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell to complete in")
    add_verbosity(p, "also say on stderr where to put the script")
    p.set_defaults(func=local.completion)

    auth.add_parser(sub, add_format, add_api_options)

    p = sub.add_parser("config", help="show each setting's effective value and where it came from")
    for setting in SETTINGS:
        configurable(p, setting.key)
    add_format(p)
    p.set_defaults(func=local.config)

    p = sub.add_parser("sandbox", help="serve a local stand-in of the Devin v1 API")
    from launcher.sandbox.config import add_arguments

    add_arguments(p)
    add_verbosity(p, "log each request on stderr (as --access-log)")
    p.set_defaults(func=local.sandbox, subparser=p)
    return parser
