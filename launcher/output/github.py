"""`--format github`: diagnostics as GitHub Actions workflow commands, which the runner
turns into annotations on the offending line of the pull request."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from launcher.output.reporter import TextReporter, check_summary
from launcher.text import printable

if TYPE_CHECKING:
    from launcher.errors import Diagnostic
    from launcher.manifest import CheckResult

TITLE = "launcher validate"


def escape_data(text: str) -> str:
    """GitHub's escaping of a command's message: without it a newline in hostile text
    would end the command and could start another."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value also escapes the characters that separate properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _repo_path(file: str) -> str:
    """Annotations name files relative to the checkout (the working directory)."""
    if os.path.isabs(file):
        rel = os.path.relpath(file)
        if not rel.startswith(".."):
            return rel
    return file


def workflow_command(d: Diagnostic) -> str:
    props = {"file": _repo_path(d.file), "line": str(d.line), "col": str(d.col), "title": TITLE}
    where = f"{d.where}: " if d.where else ""
    head = ",".join(f"{k}={escape_property(v)}" for k, v in props.items())
    return printable(f"::error {head}::{escape_data(where + d.message)}")


class GithubReporter(TextReporter):
    """Text for everything else; `validate`'s diagnostics as `::error` commands."""

    def invalid(self, result: CheckResult) -> None:
        self.out.write("".join(workflow_command(d) + "\n" for d in result.diagnostics))
        self.out.flush()
        print(check_summary(result), file=self.err)
