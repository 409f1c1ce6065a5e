"""launcher: dispatch Devin sessions in bulk from YAML manifests, exactly once each.

The version has one source, the distribution's metadata (``pyproject.toml``); it is read
on first use, so that a command which never shows it never loads ``importlib.metadata``.
"""

from __future__ import annotations

DISTRIBUTION = "devin-launcher"


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(DISTRIBUTION)
        except PackageNotFoundError:  # a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'launcher' has no attribute {name!r}")
