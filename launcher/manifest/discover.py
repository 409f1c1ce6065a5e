"""PATH arguments → the manifest files they name: a file as given, a folder walked for
`*.yaml`/`*.yml` in sorted path order, each file read once however often it is named."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

MANIFEST_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Source:
    """One manifest file: `file` relative to its PATH argument, `path` openable as given."""

    arg: str
    file: str
    path: str


def find_manifests(paths: Sequence[str]) -> tuple[list[Source], list[tuple[str, str]]]:
    """Sources for the PATH arguments, and (PATH, message) for arguments that give none.

    A file met twice (a folder and a file inside it) is read once, under its first spelling.
    """
    sources: list[Source] = []
    missing: list[tuple[str, str]] = []
    seen: set[str] = set()
    for arg in paths:
        found: list[Source] = []
        if os.path.isdir(arg):
            for rel in _walk(arg):
                found.append(Source(arg, rel, os.path.join(arg, *rel.split("/"))))
            if not found:
                missing.append((arg, "no *.yaml or *.yml manifest in this folder"))
        elif os.path.exists(arg):
            found.append(Source(arg, os.path.basename(arg), arg))
        else:
            missing.append((arg, "no such file or folder"))
        for source in found:
            real = os.path.realpath(source.path)
            if real not in seen:
                seen.add(real)
                sources.append(source)
    return sources, missing


def _walk(root: str) -> Iterator[str]:
    """Manifest files under `root`, as `/`-separated relative paths, in sorted path order."""
    found: list[tuple[str, ...]] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = os.path.relpath(folder, root)
        parts = () if rel == "." else tuple(rel.split(os.sep))
        for name in files:
            if not name.startswith(".") and name.endswith(MANIFEST_SUFFIXES):
                found.append((*parts, name))
    for parts in sorted(found):
        yield "/".join(parts)
