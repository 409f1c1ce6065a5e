"""The parsers of the follow-up commands: watch, results, log, report, cancel, message
and rerun."""

from __future__ import annotations

from typing import Any

from launcher.cli.lazy import followup, log
from launcher.cli.options import (
    PATH_HELP,
    add_api_options,
    add_dispatch_options,
    add_follow_common,
    add_format,
    add_progress,
    add_selection,
    add_verbosity,
    add_watch_options,
    configurable,
    fields_flag,
)


def add_follow_parsers(sub: Any) -> None:
    p = sub.add_parser("watch", help="follow created sessions until they settle")
    add_follow_common(p)
    add_watch_options(p, old_timeout=True)
    add_format(p)
    p.set_defaults(func=followup.watch)

    p = sub.add_parser("results", help="one record per entry: status, PR, structured output")
    add_follow_common(p, api=False)
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
    add_api_options(p)
    p.set_defaults(func=followup.results)

    p = sub.add_parser(
        "log", help="each selected session's conversation: what it was told, what it wrote"
    )
    add_follow_common(p)
    add_format(p, "jsonl")
    p.set_defaults(func=log.log)

    p = sub.add_parser(
        "report", help="the batch as one page: self-contained HTML, or Markdown for CI"
    )
    add_follow_common(p, api=False)
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
    add_follow_common(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the sessions that would be terminated (their status read first); "
        "terminate nothing, record nothing",
    )
    add_format(p)
    p.set_defaults(func=followup.cancel)

    p = sub.add_parser("message", help="send the same follow-up to each selected session")
    add_follow_common(p)
    p.add_argument("--status", default=None, metavar="S", help="only sessions now in status S")
    p.add_argument("--file", default=None, metavar="F", help="read the message from F")
    p.add_argument("--text", default=None, metavar="TEXT", help="the message")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the sessions the message would go to; send nothing, record nothing",
    )
    add_format(p)
    p.set_defaults(func=followup.message)


def add_rerun_parser(sub: Any) -> None:
    p = sub.add_parser("rerun", help="one new session for each entry whose session ended as asked")
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help=PATH_HELP + "; its entries are matched to the ledger by FILE#NAME within the "
        "run key, and each new session is sent with the manifest's request",
    )
    configurable(p, "ledger")
    add_selection(p, "the run key `run` was given")
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
    add_api_options(p)
    add_dispatch_options(p)
    add_progress(p)
    add_format(p)
    p.set_defaults(func=followup.rerun, batch=None)
