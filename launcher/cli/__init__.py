# PYTHON_ARGCOMPLETE_OK  (argcomplete's marker: this entry point completes itself)
"""The command line: `main(argv) -> int` parses, runs one command, maps errors to exit codes.

Tests call `main([...])` directly; `launcher` and `python -m launcher` call it through
`entry`. The
reporter is chosen from the raw arguments before parsing, so that even a usage error
answers `--format json` with one JSON object.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from launcher.output.reporter import Reporter


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words == ["--version"]:
        # Answered before the parser and every command module are imported: the
        # one command that is run to check that the install works should be instant.
        import launcher

        print(f"launcher {launcher.__version__}")
        return 0
    from launcher.cli.error_handler import run_handled
    from launcher.cli.parser import CliUsageError, build_parser
    from launcher.errors import ExitCode

    reporter = _early_reporter(words)
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (argcomplete's hook)
        import argcomplete

        argcomplete.autocomplete(parser)
    try:
        args, extras = parser.parse_known_args(words)
        if extras:  # name the subcommand's usage, not the top level's
            getattr(args, "subparser", parser).error(f"unrecognized arguments: {' '.join(extras)}")
    except CliUsageError as exc:
        print(exc.parser.format_usage().rstrip(), file=sys.stderr)
        reporter.error(f"{exc.message} (see `{exc.parser.prog} --help`)", ExitCode.USAGE)
        return int(ExitCode.USAGE)
    except SystemExit as exc:  # --help or --version: text on stdout, exit 0
        return int(exc.code) if isinstance(exc.code, int) else int(ExitCode.USAGE)
    reporter.verbosity = getattr(args, "verbose", 0) - getattr(args, "quiet", 0)
    args.reporter = reporter
    return run_handled(lambda: _configured(args).func(args), reporter)


def entry() -> int:
    """The `launcher` program (and `python -m launcher`): `main`, with the cyclic garbage
    collector tuned for a command that builds many objects that all live to its end (a
    10,000-entry manifest, a 30,000-line ledger): a young generation of 100,000 objects,
    not 700, so that they are not walked again and again as they pile up (60 ms of such
    a run, down to 15). Before the interpreter exits, everything still alive is frozen
    out of the collector's sight, so that its last collections do not walk it once more
    (40 ms); the objects are still freed. `main` in a test process is left as it is."""
    import gc

    gc.set_threshold(100_000, 20, 10)
    code = main()
    gc.freeze()
    return code


def _configured(args: argparse.Namespace) -> argparse.Namespace:
    """`args` with every configurable flag not given filled in from the environment, the
    project file or its default; `args.config` says where each value came from."""
    from pathlib import Path

    from launcher.project import SETTING_BY_KEY, load_nearest, resolve

    keys: tuple[str, ...] = getattr(args, "config_keys", ())
    given = {k: getattr(args, d) for k in keys if hasattr(args, d := SETTING_BY_KEY[k].dest)}
    project = None
    if len(given) < len(keys) or args.command == "config":
        try:
            project = load_nearest(Path.cwd())
        except FileNotFoundError:  # the current folder was deleted: no project file to find
            project = None
    args.config = resolve(keys, given, os.environ, project)
    args.project_file = project
    for key, value in args.config.items():
        setattr(args, SETTING_BY_KEY[key].dest, value.value)
    return args


def _early_reporter(words: list[str]) -> Reporter:
    """The reporter `--format` asks for, read from the raw words (the parse may fail)."""
    from launcher.cli.parser import COMMANDS
    from launcher.output.formats import REPORTER_BY_NAME

    fmt = "text"
    for i, word in enumerate(words):
        if word == "--format" and i + 1 < len(words):
            fmt = words[i + 1]
        elif word.startswith("--format="):
            fmt = word.split("=", 1)[1]
    command = next((w for w in words if w in COMMANDS), "")
    if command in ("ledger", "auth"):
        rest = words[words.index(command) + 1 :]
        command = " ".join([command, *[w for w in rest[:1] if not w.startswith("-")]])
    reporter_type = REPORTER_BY_NAME.get(fmt, REPORTER_BY_NAME["text"])
    return reporter_type(sys.stdout, sys.stderr, command=command)
