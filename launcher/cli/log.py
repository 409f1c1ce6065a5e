"""`launcher log`: what each selected session said and was told. Glue only: the
conversations are read by `launcher.follow` and written by `launcher.output`."""

from __future__ import annotations

import argparse
import os
import sys

from launcher.cli import commands, followup
from launcher.errors import ExitCode

LEDGER_SUFFIX = ".jsonl"


def log(args: argparse.Namespace) -> int:
    from launcher.follow.log import subjects_of_targets
    from launcher.follow.run import read_logs
    from launcher.output.conversation import log_answer, write_log

    if args.paths and all(p.endswith(LEDGER_SUFFIX) for p in args.paths):
        # `launcher log LEDGER.jsonl`: the ledger alone, as `launcher log --ledger F`.
        if len(args.paths) > 1:
            args.subparser.error("give one ledger (or manifests with --ledger F)")
        args.ledger, args.paths = args.paths[0], []
    read = followup._ledger_targets(args)
    if read is None:
        return ExitCode.USAGE
    targets = read[0]
    subjects, without = subjects_of_targets(targets)
    if without:
        args.reporter.note(
            f"launcher: {without} selected entries have no session (see `launcher results`)"
        )
    # With manifests, their secrets' values are redacted too (the API key always is).
    conn = commands._connection(args, [t.entry for t in targets], os.environ)
    conversations = read_logs(conn, subjects) if subjects else []
    if args.format == "json":  # one document in the envelope every command's JSON has
        args.reporter.answer(log_answer(conversations))
    else:
        write_log(conversations, args.format, sys.stdout)
    return ExitCode.FAILED if any(c.error for c in conversations) else ExitCode.OK
