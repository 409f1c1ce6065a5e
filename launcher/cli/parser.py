"""The argparse parser of every command; each flag's converter checks it (`type=`)."""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import launcher
from launcher.cli import auth
from launcher.dispatch import settings
from launcher.project import SETTING_BY_KEY, SETTINGS
from launcher.shard import shard_flag


class _Commands:
    """A module of command functions, imported when one of them runs rather than when the
    parser is built: `validate` of one file should not pay for what `run` imports."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Callable[[argparse.Namespace], int]:
        module = self._module

        def command(args: argparse.Namespace) -> int:
            function: Callable[[argparse.Namespace], int] = getattr(
                importlib.import_module(module), name
            )
            return function(args)

        command.__name__ = command.__qualname__ = name
        return command


commands = _Commands("launcher.cli.commands")
followup = _Commands("launcher.cli.followup")
local = _Commands("launcher.cli.local")
ledger = _Commands("launcher.cli.ledger")
log = _Commands("launcher.cli.log")

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


def add_shard(p: argparse.ArgumentParser) -> None:
    """`--shard K/N`, for every command that works on a batch's entries."""
    p.add_argument(
        "--shard",
        type=shard_flag,
        default=None,
        metavar="K/N",
        help="only the entries of shard K of N (1-based; by dispatch key, stable everywhere)",
    )


def configurable(
    p: argparse.ArgumentParser, key: str, target: Any = None, **overrides: Any
) -> None:
    """A flag whose default the project file or a `LAUNCHER_*` variable may set: absent
    from the namespace unless given (`main` fills it in, noting where the value came
    from), and listed in the command's `config_keys`."""
    s = SETTING_BY_KEY[key]
    default = "none" if s.default is None else repr(s.default)
    names = " or ".join(f"${name}" for name in s.env)
    where = f"default {default}; {names}; `{key}` in launcher.toml"
    options: dict[str, Any] = {"type": s.convert, "metavar": s.metavar, "help": s.help}
    options.update(overrides)
    options["help"] = f"{options['help']} ({where})"
    (target or p).add_argument(s.flag, default=argparse.SUPPRESS, **options)
    p.set_defaults(config_keys=(*(p.get_default("config_keys") or ()), key))


def fields_flag(text: str) -> list[str]:
    """`--fields a,b`: the names, without blanks; at least one."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one field, e.g. entry,status")
    return names


def _add_format(p: argparse.ArgumentParser, *extra: str) -> None:
    p.add_argument(
        "--format",
        choices=("text", "json", *extra),
        default="text",
        help="text for people, json for scripts (one JSON object on stdout, on every exit)"
        + "".join(f", {name}: {FORMAT_HELP[name]}" for name in extra),
    )
    add_verbosity(p)
    p.set_defaults(subparser=p)


def add_verbosity(p: argparse.ArgumentParser, verbose: str = "more detail on stderr") -> None:
    """`-q`/`-v`, which every command takes (`verbose`: what -v adds, for this command)."""
    p.add_argument(
        "-q", "--quiet", action="count", default=0, help="only warnings and errors on stderr"
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help=verbose)


FORMAT_HELP = {
    "github": "GitHub Actions annotations (::error file=...,line=...::...)",
    "jsonl": "one JSON object per message",
}


PATH_HELP = "a manifest file, or a folder searched recursively for *.yaml/*.yml"
RUN_KEY_HELP = "part of every dispatch key: a new value dispatches everything again"
EPILOG = """\
The API key is read from $DEVIN_API_KEY (or --api-key-env NAME), never from an argument.

exit codes: 0 all done · 1 some entries failed or are in doubt · 2 invalid manifests or
usage · 3 credentials rejected · 4 ledger held by another run · 10 plan
--detailed-exitcode: something to create · 130 interrupted
"""


class _Deprecated(argparse.Action):
    """An old spelling of a flag: it still works, and says which name to use."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        self.instead = kwargs.pop("instead")
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None
    ) -> None:
        print(
            f"launcher: warning: {option} is deprecated; use {self.instead} (same meaning)",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def _notify_url(value: str) -> str:
    from launcher.follow.notify import notify_url  # httpx: only when the flag is given

    return notify_url(value)


def _add_notify(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--notify",
        action="append",
        type=_notify_url,
        default=None,
        metavar="URL",
        help="when it ends, POST the summary as JSON (with a `text` field for Slack and Teams "
        "incoming webhooks) to URL, retried; a failure is only a warning (repeatable)",
    )


def _add_watch_options(p: argparse.ArgumentParser, *, old_timeout: bool = False) -> None:
    configurable(
        p, "poll-interval", help="seconds between polls, ±20%% jitter; longer after 429/5xx"
    )
    # One name on every command for "stop watching after": --wait-timeout.
    p.add_argument(
        "--wait-timeout",
        dest="watch_timeout",
        type=settings.seconds,
        default=None,
        metavar="S",
        help="stop watching after S seconds; unsettled entries then count as not ended well",
    )
    if old_timeout:  # watch's first spelling, kept working
        p.add_argument(
            "--timeout",
            dest="watch_timeout",
            type=settings.seconds,
            action=_Deprecated,
            instead="--wait-timeout",
            metavar="S",
            help=argparse.SUPPRESS,
        )
    p.add_argument(
        "--heartbeat",
        type=settings.non_negative_seconds,
        default=300.0,
        metavar="S",
        help="off a terminal, a line of counts every S seconds while waiting (300; 0: none)",
    )
    p.add_argument(
        "--blocked-ok",
        action="store_true",
        help="count a blocked session (waiting for a person) as ended well",
    )
    _add_notify(p)


def _add_api_options(p: argparse.ArgumentParser, target: Any = None) -> None:
    configurable(p, "base-url", target, type=settings.base_url_flag)
    configurable(p, "api-key-env")
    add_generation_options(p)


def add_generation_options(p: argparse.ArgumentParser) -> None:
    """--api and --org: which Devin API the connection speaks, and the organisation."""
    p.add_argument(
        "--api",
        choices=("v1", "v3"),
        default=None,
        help="the Devin API to speak (default: from the key's prefix, cog_ is v3, or from "
        "a base URL ending in /v1 or /v3; else v1)",
    )
    configurable(p, "org")


def _add_selection(p: argparse.ArgumentParser, run_key_help: str = RUN_KEY_HELP) -> None:
    """--run-key, --select and --shard: which entries of the manifests a command works on,
    the same three flags on every command that takes manifests and a ledger."""
    configurable(p, "run-key", help=run_key_help)
    p.add_argument(
        "--select",
        action="append",
        default=None,
        metavar="GLOB",
        help="only entries whose name matches (repeatable; no match is exit 2)",
    )
    add_shard(p)


FOLLOW_PATH_HELP = (
    PATH_HELP + "; its entries are matched to the ledger by FILE#NAME within the run key "
    "(an entry changed since it was sent keeps its session). Without PATH: every session "
    "the ledger holds"
)


def _add_follow_common(p: argparse.ArgumentParser, *, api: bool = True) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help=FOLLOW_PATH_HELP)
    p.add_argument(
        "--batch",
        default=None,
        metavar="ID",
        help="without PATH: only the sessions of this run (its run id, as `launcher ledger "
        "batches` lists it)",
    )
    if api:
        configurable(p, "ledger")
    else:  # results only reads: several ledgers (the shards of a batch) read as one
        configurable(
            p,
            "ledger",
            action="append",
            help="the ledger; repeat it to read several ledgers (the shards of a batch) as "
            "one merged ledger",
        )
    _add_selection(p, "the run key `run` was given")
    p.set_defaults(subparser=p)
    if api:
        _add_api_options(p)


def _add_follow_parsers(sub: Any) -> None:
    p = sub.add_parser("watch", help="follow created sessions until they settle")
    _add_follow_common(p)
    _add_watch_options(p, old_timeout=True)
    _add_format(p)
    p.set_defaults(func=followup.watch)

    p = sub.add_parser("results", help="one record per entry: status, PR, structured output")
    _add_follow_common(p, api=False)
    p.add_argument(
        "--format",
        choices=("text", "jsonl", "csv", "json"),
        default=None,
        help="text: a table (the default on a terminal); jsonl: a record a line (the default "
        "otherwise); csv: a column per field, matrix variable and output property; json: one "
        "document with every record",
    )
    p.add_argument(
        "--status",
        action="append",
        default=None,
        metavar="S",
        help="only entries in status S (repeatable): working, blocked, finished, expired, "
        "cancelled, not_created, …",
    )
    p.add_argument(
        "--fields",
        type=fields_flag,
        default=None,
        metavar="A,B",
        help="only these fields, in this order: entry, status, pull_request_url, …, "
        "matrix.VAR, output.PROP",
    )
    add_verbosity(p)
    p.add_argument(
        "--messages",
        action="store_true",
        help="add `last_devin_message`, the last message each session wrote (asks the API; "
        "without it results reads the ledger alone)",
    )
    _add_api_options(p)
    p.set_defaults(func=followup.results)

    p = sub.add_parser(
        "log", help="each selected session's conversation: what it was told, what it wrote"
    )
    _add_follow_common(p)
    _add_format(p, "jsonl")
    p.set_defaults(func=log.log)

    p = sub.add_parser(
        "report", help="the batch as one page: self-contained HTML, or Markdown for CI"
    )
    _add_follow_common(p, api=False)
    p.add_argument(
        "--format",
        choices=("html", "markdown", "json"),
        default="html",
        help="html: one self-contained page that opens offline (the default); markdown: the "
        "same summary for $GITHUB_STEP_SUMMARY or a pull-request comment; json: its counts "
        "and rows as one document on standard output (and in FILE with -o)",
    )
    p.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="FILE",
        help="write the report to FILE, - for standard output (default: standard output; "
        "for HTML on a terminal, launcher-report.html)",
    )
    add_verbosity(p)
    p.set_defaults(func=followup.report)

    p = sub.add_parser("cancel", help="terminate the entries' sessions still active")
    _add_follow_common(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the sessions that would be terminated (their status read first); "
        "terminate nothing, record nothing",
    )
    _add_format(p)
    p.set_defaults(func=followup.cancel)

    p = sub.add_parser("message", help="send the same follow-up to each selected session")
    _add_follow_common(p)
    p.add_argument("--status", default=None, metavar="S", help="only sessions now in status S")
    p.add_argument("--file", default=None, metavar="F", help="read the message from F")
    p.add_argument("--text", default=None, metavar="TEXT", help="the message")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the sessions the message would go to; send nothing, record nothing",
    )
    _add_format(p)
    p.set_defaults(func=followup.message)


def _add_dispatch_options(p: argparse.ArgumentParser) -> None:
    """How `run` and `rerun` send: the same flags, the same settings."""
    configurable(p, "concurrency")
    configurable(p, "rate", help="requests per second, or R/m per minute (default: adapt)")
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
    p.add_argument(
        "--reconcile-delay",
        type=settings.non_negative_seconds,
        default=2.0,
        metavar="S",
        help="seconds to wait before looking up a session whose creation is in doubt",
    )


def _add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="live status line (auto: when stderr is a terminal)",
    )


def _add_rerun_parser(sub: Any) -> None:
    p = sub.add_parser("rerun", help="one new session for each entry whose session ended as asked")
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help=PATH_HELP + "; its entries are matched to the ledger by FILE#NAME within the "
        "run key, and each new session is sent with the manifest's request",
    )
    configurable(p, "ledger")
    _add_selection(p, "the run key `run` was given")
    p.add_argument(
        "--status",
        action="append",
        default=None,
        metavar="S",
        help="rerun entries whose session is now in status S (repeatable): expired, "
        "blocked, finished, stopped, cancelled, error, sleeping, …",
    )
    p.add_argument(
        "--invalid-output",
        action="store_true",
        help="rerun entries whose structured output its schema refused",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the entries that would get a new session (their status read first); "
        "send nothing, record nothing",
    )
    _add_api_options(p)
    _add_dispatch_options(p)
    _add_progress(p)
    _add_format(p)
    p.set_defaults(func=followup.rerun, batch=None)


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
    _add_format(p, "github")
    _add_api_options(p)  # the fields a manifest may hold depend on the API a run speaks
    p.set_defaults(func=commands.validate)

    p = sub.add_parser("plan", help="show what `run` would do")
    p.add_argument("paths", nargs="+", metavar="PATH", help=PATH_HELP)
    configurable(p, "ledger")
    _add_selection(p)
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
    _add_format(p)
    _add_api_options(p)
    p.set_defaults(func=commands.plan)

    p = sub.add_parser("show", help="show a plan file that `plan --out` wrote")
    p.add_argument("plan_file", metavar="FILE", help="the plan file")
    p.add_argument("--show-requests", action="store_true", help="print request bodies")
    _add_format(p)
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
    _add_api_options(p, target)
    _add_dispatch_options(p)
    _add_selection(p)
    target.add_argument(
        "--sandbox",
        action="store_true",
        help="start the embedded sandbox on a free loopback port and use it",
    )
    _add_progress(p)
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
    _add_watch_options(p)
    # Not a feature: a user who expects one (as in many tools) is pointed to `plan`.
    p.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)
    _add_format(p)
    p.set_defaults(func=commands.run)

    _add_follow_parsers(sub)
    _add_rerun_parser(sub)

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
    _add_format(q)
    q.set_defaults(func=ledger.ledger_summary)
    q = lsub.add_parser("batches", help="the batches a ledger holds: one line per run")
    q.add_argument(
        "ledger_files",
        nargs="+",
        metavar="F",
        help="the ledger file; several are read as one merged ledger (read without its lock)",
    )
    _add_format(q)
    q.set_defaults(func=ledger.ledger_batches)
    q = lsub.add_parser("merge", help="one ledger from many (the shards of a batch)")
    q.add_argument("ledger_files", nargs="+", metavar="F", help="the ledgers to merge")
    q.add_argument("--output", required=True, metavar="F", help="the merged ledger: a new file")
    _add_format(q)
    q.set_defaults(func=ledger.ledger_merge)
    q = lsub.add_parser("compact", help="rewrite a ledger to one line per dispatch key")
    q.add_argument("ledger_file", metavar="F", help="the ledger to compact, in place")
    _add_format(q)
    q.set_defaults(func=ledger.ledger_compact)

    p = sub.add_parser("completion", help="print the shell completion script")
    p.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell to complete in")
    add_verbosity(p, "also say on stderr where to put the script")
    p.set_defaults(func=local.completion)

    auth.add_parser(sub, _add_format, _add_api_options)

    p = sub.add_parser("config", help="show each setting's effective value and where it came from")
    for setting in SETTINGS:
        configurable(p, setting.key)
    _add_format(p)
    p.set_defaults(func=local.config)

    p = sub.add_parser("sandbox", help="serve a local stand-in of the Devin v1 API")
    from launcher.sandbox.config import add_arguments

    add_arguments(p)
    add_verbosity(p, "log each request on stderr (as --access-log)")
    p.set_defaults(func=local.sandbox, subparser=p)
    return parser
