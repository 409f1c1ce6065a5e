"""`launcher log`: what each selected session said and was told. Glue only: the
conversations are read by `launcher.follow` and written by `launcher.output`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from launcher.cli import commands
from launcher.errors import ExitCode

if TYPE_CHECKING:
    from launcher.entry import Entry
    from launcher.follow.log import Subject

LEDGER_SUFFIX = ".jsonl"


def log(args: argparse.Namespace) -> int:
    from launcher.follow.run import read_logs
    from launcher.output.conversation import write_log

    found = _subjects(args)
    if found is None:
        return ExitCode.USAGE
    subjects, without, entries = found
    if without:
        args.reporter.note(
            f"launcher: {without} selected entries have no session (see `launcher results`)"
        )
    # With manifests, their secrets' values are redacted too (the API key always is).
    conn = commands._connection(args, entries, os.environ)
    conversations = read_logs(conn, subjects) if subjects else []
    write_log(conversations, args.format, sys.stdout)
    return ExitCode.FAILED if any(c.error for c in conversations) else ExitCode.OK


def _subjects(args: argparse.Namespace) -> tuple[list[Subject], int, list[Entry]] | None:
    """The sessions to read, how many selected entries have none, and the entries: those
    of the manifests' selected entries (with --ledger), or, when the PATHs are ledgers,
    every session they record."""
    from launcher.follow.log import subjects_of_ledger, subjects_of_targets
    from launcher.follow.targets import build_targets

    if all(p.endswith(LEDGER_SUFFIX) for p in args.paths):
        return subjects_of_ledger(commands.read_ledgers(args.paths), args.select), 0, []
    entries = commands._entries(args, args.reporter)
    if entries is None:
        return None
    targets = build_targets(entries, commands.read_ledgers([args.ledger]))
    return (*subjects_of_targets(targets), entries)
