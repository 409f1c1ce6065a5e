# PYTHON_ARGCOMPLETE_OK  (argcomplete's marker: this entry point completes itself)
"""The command line: `main(argv) -> int` parses, runs one command, maps errors to exit codes.

Tests call `main([...])` directly; `launcher` and `python -m launcher` call it too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from launcher.cli.error_handler import run_handled
from launcher.cli.parser import build_parser
from launcher.errors import ExitCode


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (argcomplete's hook)
        import argcomplete

        argcomplete.autocomplete(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else ExitCode.USAGE
    return run_handled(lambda: args.func(args))
