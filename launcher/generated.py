"""The command line of a generated docs page (`python -m launcher.cli.clidoc [--check]`,
`python -m launcher.api.fielddoc [--check]`): write the page, or check the committed one."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def page_main(
    argv: Sequence[str] | None,
    module: str,
    page: Path,
    render: Callable[[], str],
    check: Callable[[Path], list[str]],
) -> int:
    """No argument: write `page` from `render()`. `--check`: print what `check` finds
    wrong with the committed page, exit 1 if anything."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--check"]:
        problems = check(page)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    if args:
        print(f"usage: python -m {module} [--check]", file=sys.stderr)
        return 2
    page.write_text(render(), encoding="utf-8")
    print(f"wrote {page}")
    return 0
