"""Defaults for the flags a team repeats on every command: the project file (`launcher.toml`,
or `[tool.launcher]` in `pyproject.toml`, the nearest one upward from the working
directory) and `LAUNCHER_*` environment variables. Each value keeps where it came from;
precedence is flag > environment > file > default."""

from __future__ import annotations

import argparse
import difflib
import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from launcher.api.address import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    ORG_ENV,
    check_base_url,
    shown,
)
from launcher.dispatch import settings
from launcher.errors import UsageError

PROJECT_FILE = "launcher.toml"
PYPROJECT = "pyproject.toml"
PYPROJECT_TABLE = ("tool", "launcher")
MAX_FILE_BYTES = 256 * 1024  # a project file is a dozen lines; anything this big is a mistake
Source = Literal["flag", "environment", "file", "default"]


def _text(text: str) -> str:
    if not text or len(text) > 4096 or not text.isprintable():
        raise argparse.ArgumentTypeError("must be a non-empty line of printable text")
    return text


def _run_key(text: str) -> str:
    if len(text) > 4096 or not text.isprintable():
        raise argparse.ArgumentTypeError("must be a line of printable text")
    return text


def _env_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an environment variable name")
    return text


def _base_url(text: str) -> str:
    try:
        check_base_url(text, "the URL")
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text  # the connection reads the generation a /v1 or /v3 ending names


def acus(text: str) -> float:
    """A budget in ACUs: a positive number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of ACUs") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of ACUs, got {value:g}")
    return value


@dataclass(frozen=True)
class Setting:
    """One configurable flag: its key in the project file, its flag, its variables."""

    key: str  # in the project file, as the flag without its dashes: `run-key`
    default: Any
    convert: Callable[[str], Any]  # the flag's argparse `type=` converter
    kinds: tuple[type, ...]  # the TOML types a file may give it
    metavar: str
    help: str
    aliases: tuple[str, ...] = ()  # other variables read after LAUNCHER_<KEY>

    @property
    def flag(self) -> str:
        return f"--{self.key}"

    @property
    def dest(self) -> str:
        return self.key.replace("-", "_")

    @property
    def env(self) -> tuple[str, ...]:
        return (f"LAUNCHER_{self.key.replace('-', '_').upper()}", *self.aliases)


_NUMBER = (int, float)
SETTINGS: tuple[Setting, ...] = (
    Setting("ledger", "launcher-ledger.jsonl", _text, (str,), "F", "the ledger file"),
    Setting("run-key", "", _run_key, (str,), "K", "part of every dispatch key"),
    Setting(
        "base-url",
        DEFAULT_BASE_URL,
        _base_url,
        (str,),
        "URL",
        "API base URL",
        aliases=(BASE_URL_ENV,),
    ),
    Setting(
        "api-key-env",
        "DEVIN_API_KEY",
        _env_name,
        (str,),
        "NAME",
        "environment variable holding the API key",
    ),
    Setting(
        "org",
        None,
        _text,
        (str,),
        "ORG_ID",
        "the organisation sessions are created in (the API v3 needs it)",
        aliases=(ORG_ENV,),
    ),
    Setting("concurrency", 8, settings.at_least_one, (int,), "N", "requests in flight at most"),
    Setting("rate", None, settings.rate, (str, *_NUMBER), "R", "requests per second, or R/m"),
    Setting(
        "max-active",
        None,
        settings.at_least_one,
        (int,),
        "N",
        "at most N of the run's sessions working at once",
    ),
    Setting("poll-interval", 20.0, settings.seconds, _NUMBER, "S", "seconds between polls"),
    Setting("max-acus", None, acus, _NUMBER, "ACUS", "the batch's budget in ACUs"),
)
SETTING_BY_KEY = {s.key: s for s in SETTINGS}


@dataclass(frozen=True)
class Value:
    """A setting's effective value and where it came from (`where`: the flag, the variable,
    or `FILE:LINE`; empty for a default)."""

    key: str
    value: Any
    source: Source
    where: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "source": self.source, "where": self.where}


@dataclass(frozen=True)
class ProjectFile:
    """The values a project file gives, each with its line."""

    path: Path
    values: Mapping[str, tuple[Any, int]]

    def where(self, key: str) -> str:
        return f"{self.path}:{self.values[key][1]}"


def find_project_file(start: Path) -> Path | None:
    """The nearest `launcher.toml`, or `pyproject.toml` with a `[tool.launcher]` table, in
    `start` or a folder above it; `launcher.toml` first in one folder."""
    for folder in (start, *start.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
        candidate = folder / PYPROJECT
        if candidate.is_file() and _has_launcher_table(candidate):
            return candidate
    return None


def _has_launcher_table(path: Path) -> bool:
    # A cheap look before parsing: most pyproject.toml files say nothing of the launcher.
    try:
        text = _read(path)
    except UsageError:
        return True  # reported by load_project_file, with its reason
    return (
        re.search(r"^\s*\[\s*tool\s*\.\s*launcher\s*[\].]|tool\.launcher", text, re.M) is not None
    )


def _read(path: Path, *, settings: bool = False) -> str:
    try:
        with path.open("rb") as f:
            if settings:
                _check_trusted(path, os.fstat(f.fileno()))
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the project file ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"{path}: the project file is over {MAX_FILE_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: the project file is not UTF-8 text") from None


def _check_trusted(path: Path, st: os.stat_result) -> None:
    """The file may point the API key at another URL: refuse one that someone else could
    have written, as git does a repository another user owns (a `launcher.toml` left in
    /tmp, above the folder the launcher runs in, would otherwise be obeyed)."""
    if not hasattr(os, "getuid"):
        return
    if st.st_uid not in (os.getuid(), 0):
        raise UsageError(
            f"{path}: the project file belongs to another user (uid {st.st_uid}), who could "
            "point your API key at another URL; make it yours (chown) or remove it"
        )
    if st.st_mode & stat.S_IWOTH:
        raise UsageError(
            f"{path}: anyone can write the project file, and so point your API key at another "
            "URL; chmod o-w it"
        )


def load_project_file(path: Path) -> ProjectFile:
    """The file's launcher values, each checked; a UsageError naming `FILE:LINE` and the fix
    for TOML that does not parse, an unknown key or a value of the wrong kind."""
    text = _read(path, settings=True)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"line (\d+)", str(exc))
        raise UsageError(f"{path}:{at.group(1) if at else 1}: not valid TOML: {exc}") from None
    table: Any = doc
    prefix: tuple[str, ...] = ()
    if path.name == PYPROJECT:
        prefix = PYPROJECT_TABLE
        table = doc.get("tool", {}).get("launcher", {})
        if not isinstance(table, dict):
            raise UsageError(f"{path}:1: tool.launcher must be a table ([tool.launcher])")
    lines = key_lines(text, prefix)
    values: dict[str, tuple[Any, int]] = {}
    for key, raw in table.items():
        line = lines.get(key, 1)
        setting = SETTING_BY_KEY.get(key)
        if setting is None:
            raise UsageError(f"{path}:{line}: unknown key {key!r}; {_known(key)}")
        values[key] = (_file_value(setting, raw, path, line), line)
    return ProjectFile(path, values)


def _known(key: str) -> str:
    close = difflib.get_close_matches(key.replace("_", "-"), list(SETTING_BY_KEY), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return hint + "the keys are " + ", ".join(SETTING_BY_KEY)


def _file_value(setting: Setting, raw: Any, path: Path, line: int) -> Any:
    kinds = " or ".join(sorted({_KIND_NAMES[k] for k in setting.kinds}))
    if isinstance(raw, bool) or not isinstance(raw, setting.kinds):
        raise UsageError(f"{path}:{line}: {setting.key} must be a {kinds}, not {_kind_of(raw)}")
    # shown(): a password in a URL is never printed, not even in an error
    given = shown(raw) if isinstance(raw, str) else raw
    value = _convert(setting, str(raw), f"{path}:{line}: {setting.key} = {given!r}")
    if setting.key == "ledger":  # a path in the file is relative to the file
        value = str(path.parent / Path(value).expanduser())
    return value


_KIND_NAMES = {str: "string", int: "whole number", float: "number"}


def _kind_of(raw: Any) -> str:
    return {bool: "a boolean", dict: "a table", list: "an array"}.get(type(raw), repr(raw))


def _convert(setting: Setting, text: str, source: str) -> Any:
    try:
        return setting.convert(text)
    except (argparse.ArgumentTypeError, UsageError, ValueError) as exc:
        raise UsageError(f"{source}: {exc}") from None


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*[=.]""")


def key_lines(text: str, table: tuple[str, ...]) -> dict[str, int]:
    """The line (1-based) where each key of `table` is first set, from the file's text
    (tomllib gives values, not positions): a `key =` line under the table's header, or the
    header of a sub-table `[table.key]`."""
    found: dict[str, int] = {}
    current: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            current = tuple(p.strip().strip("\"'") for p in header.group(1).split("."))
            if len(current) > len(table) and current[: len(table)] == table:
                found.setdefault(current[len(table)], number)
            continue
        key = _KEY.match(line)
        if key and current == table:
            found.setdefault(next(g for g in key.groups() if g), number)
    return found


def resolve(
    keys: Iterable[str],
    given: Mapping[str, Any],
    environ: Mapping[str, str],
    project: ProjectFile | None,
) -> dict[str, Value]:
    """The effective value of each key: the flag given, else the first set variable, else
    the project file, else the default. `given` maps the keys whose flags were given."""
    out: dict[str, Value] = {}
    for key in keys:
        setting = SETTING_BY_KEY[key]
        if key in given:
            out[key] = Value(key, given[key], "flag", setting.flag)
            continue
        name = next((n for n in setting.env if environ.get(n, "")), None)
        if name is not None:
            # shown(): a password in a URL is never printed, not even in an error
            value = _convert(setting, environ[name], f"${name}={shown(environ[name])[:200]!r}")
            out[key] = Value(key, value, "environment", name)
        elif project is not None and key in project.values:
            out[key] = Value(key, project.values[key][0], "file", project.where(key))
        else:
            out[key] = Value(key, setting.default, "default")
    return out


def load_nearest(start: Path) -> ProjectFile | None:
    """The project file found upward from `start`, loaded; None when there is none."""
    path = find_project_file(start)
    return None if path is None else load_project_file(path)


# Variables of this prefix that are not settings (a switch read where it applies).
OTHER_VARIABLES = frozenset({"LAUNCHER_ALLOW_INSECURE_HTTP"})


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each `LAUNCHER_*` variable that names no setting: a typo such as
    LAUNCHER_CONCURENCY would otherwise be silently ignored."""
    known = {name for s in SETTINGS for name in s.env} | OTHER_VARIABLES
    warnings = []
    for name in sorted(environ):
        if name.startswith("LAUNCHER_") and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            warnings.append(f"{name[:80]} is set but is no launcher setting{hint}")
    return warnings
