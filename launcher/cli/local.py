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


INSTALL_LINE = {
    "bash": 'eval "$(launcher completion bash)"   # in ~/.bashrc',
    "zsh": 'eval "$(launcher completion zsh)"    # in ~/.zshrc, after compinit',
    "fish": "launcher completion fish | source   # in ~/.config/fish/config.fish",
}


def completion(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    sys.stdout.write(shellcode(["launcher"], shell=args.shell))
    sys.stdout.flush()
    if _reporter(args).verbosity > 0:
        _reporter(args).note(f"launcher: load it in every shell: {INSTALL_LINE[args.shell]}")
    return ExitCode.OK


def sandbox(args: argparse.Namespace) -> int:
    from launcher.sandbox import extra

    extra.require()
    from launcher.sandbox import server

    # -v logs each request (the access log); -q keeps stderr to warnings and errors: the
    # `export` lines, the sandbox's output, still go to stdout.
    args.access_log = args.access_log or args.verbose > 0
    return server.serve_command(args, note=_reporter(args).note)
