"""Rendering only: diagnostics, plans, run outcomes and ledger summaries, as text or JSON.

Nothing here decides anything; every function takes a computed result and prints it
(results to stdout, logs and progress to stderr).
"""

from __future__ import annotations

from typing import Any

# --- validate and plan --------------------------------------------------------------


def print_check(result: Any, fmt: str) -> None:
    raise NotImplementedError


def print_plan(items: Any, fmt: str, *, show_requests: bool) -> None:
    raise NotImplementedError


# --- ledger summary -----------------------------------------------------------------


def print_ledger_summary(summary: Any, fmt: str) -> None:
    raise NotImplementedError


# --- run ----------------------------------------------------------------------------
