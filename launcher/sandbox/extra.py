"""Whether the sandbox's own dependencies (the `sandbox` extra: starlette, uvicorn) are
installed, and the one line that says how to install them when they are not."""

from __future__ import annotations

import importlib.util

from launcher.errors import UsageError

DISTRIBUTION = "devin-launcher"  # pyproject's [project] name (a test keeps them equal)
MODULES = ("starlette", "uvicorn")
HINT = f"the sandbox needs the `sandbox` extra: pip install '{DISTRIBUTION}[sandbox]'"


def missing() -> list[str]:
    return [name for name in MODULES if importlib.util.find_spec(name) is None]


def require() -> None:
    """Raise a usage error (exit 2, one line) unless the sandbox can start."""
    if absent := missing():
        raise UsageError(f"{HINT} ({' and '.join(absent)} not installed)")
