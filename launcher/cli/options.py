"""The flags several commands share, each checked by its converter (`type=`): formats,
verbosity, the API and its generation, selection, watching, dispatching, notifying."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from launcher.dispatch import settings
from launcher.project import SETTING_BY_KEY
from launcher.shard import shard_flag


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


def add_format(p: argparse.ArgumentParser, *extra: str) -> None:
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


class Deprecated(argparse.Action):
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


def notify_url(value: str) -> str:
    from launcher.follow.notify import notify_url  # httpx: only when the flag is given

    return notify_url(value)


def add_notify(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--notify",
        action="append",
        type=notify_url,
        default=None,
        metavar="URL",
        help="when it ends, POST the summary as JSON (with a `text` field for Slack and Teams "
        "incoming webhooks) to URL, retried; a failure is only a warning (repeatable)",
    )


def add_watch_options(p: argparse.ArgumentParser, *, old_timeout: bool = False) -> None:
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
            action=Deprecated,
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
    add_notify(p)


def add_api_options(p: argparse.ArgumentParser, target: Any = None) -> None:
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


def add_selection(p: argparse.ArgumentParser, run_key_help: str = RUN_KEY_HELP) -> None:
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


def add_follow_common(p: argparse.ArgumentParser, *, api: bool = True) -> None:
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
    add_selection(p, "the run key `run` was given")
    p.set_defaults(subparser=p)
    if api:
        add_api_options(p)


def add_dispatch_options(p: argparse.ArgumentParser) -> None:
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


def add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="live status line (auto: when stderr is a terminal)",
    )
