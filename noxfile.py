"""Every interpreter the package claims (its classifiers), tested: `make test` runs the
fast loop here on each supported interpreter other than the default one (which runs the
whole suite), `make test-all` the whole suite on each.

An interpreter that is not on the machine is reported by nox ("skipped: Python
interpreter 3.X not found") and in the summary, never passed over in silence. Under
pyenv, versions installed side by side are found even when not selected: their `bin`
folders are put on PATH here.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

import nox

ROOT = Path(__file__).parent
CLASSIFIER = re.compile(r'"Programming Language :: Python :: (3\.\d+)"')
SUPPORTED = CLASSIFIER.findall((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

nox.options.default_venv_backend = "uv|venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False  # reported as skipped, by name
nox.options.sessions = ["fast"]


def _pyenv_bins() -> list[str]:
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = []
    for version in SUPPORTED:
        found += sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin")))[-1:]
    return found


os.environ.setdefault(
    "UV_PYTHON_DOWNLOADS", "never"
)  # a missing interpreter is reported, not fetched
# Bytecode cached, as by default: the suite starts hundreds of Python processes (Makefile).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ["PATH"] = os.pathsep.join([*_pyenv_bins(), os.environ.get("PATH", "")])


def _install(session: nox.Session) -> None:
    # pip too: uv's venvs come without it, and the Dockerfile's install steps run it.
    session.install("pip", "-e", ".[sandbox,test]")


@nox.session(python=SUPPORTED)
def fast(session: nox.Session) -> None:
    """The inner loop: every test not marked slow."""
    _install(session)
    session.run(
        "pytest",
        "-q",
        "-m",
        "not slow",
        "-n",
        "3",
        "--maxschedchunk",
        "1",
        "-p",
        "no:cacheprovider",
    )


@nox.session(python=SUPPORTED)
def full(session: nox.Session) -> None:
    """The whole suite, each property test drawing its full number of examples."""
    _install(session)
    session.run(
        "pytest",
        "-q",
        "-n",
        "4",
        "--maxschedchunk",
        "1",
        "-p",
        "no:cacheprovider",
        env={"HYPOTHESIS_PROFILE": "thorough"},
    )
