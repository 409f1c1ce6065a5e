"""The command modules, imported when one of their commands runs rather than when the
parser is built: `validate` of one file should not pay for what `run` imports."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable


class _Commands:
    """A module of command functions: `commands.run` is a function that imports the
    module when it is called."""

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
