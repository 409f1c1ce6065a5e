"""The commands that need neither manifests nor the API: `config`, `completion` and
`sandbox`. Glue only."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from launcher.errors import ExitCode

if TYPE_CHECKING:
    from launcher.output.reporter import Reporter


def _reporter(args: argparse.Namespace) -> Reporter:
    """The reporter `main` chose for this command."""
    reporter: Reporter = args.reporter
    return reporter


def config(args: argparse.Namespace) -> int:
    """`launcher config`: each setting's effective value and where it came from."""
    from launcher.project import unknown_variables

    project = args.project_file
    for warning in unknown_variables(os.environ):
        _reporter(args).note(f"launcher: warning: {warning}")
    _reporter(args).config(list(args.config.values()), project and str(project.path))
    return ExitCode.OK


def completion(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    sys.stdout.write(shellcode(["launcher"], shell=args.shell))
    return ExitCode.OK


def sandbox(args: argparse.Namespace) -> int:
    from launcher.sandbox import extra

    extra.require()
    from launcher.sandbox import server

    return server.serve_command(args)
