"""Readers for the deployment examples (Dockerfile, systemd units, shell lines, CLI help).

Small parsers, enough to take the examples apart the way their engines would, so that
tests/docs/test_deploy_examples.py can check them and run the commands they contain.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import ROOT

DEPLOY = ROOT / "deploy"

# Shell words that end one simple command and start the next.
_SEPARATORS = set(";&|()\n")


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with line continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined = (pending + line).strip()
        pending = ""
        word, _, rest = joined.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def run_flags_and_command(arguments: str) -> tuple[list[str], str]:
    """A RUN instruction's leading `--mount=...` style flags, and the shell command."""
    flags: list[str] = []
    rest = arguments
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        flags.append(flag)
        rest = rest.lstrip()
    return flags, rest


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Whether Docker leaves `path` out of the build context (last matching rule wins)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        regex = _glob_regex(body.strip("/"))
        if any(regex.fullmatch(c) for c in candidates):
            excluded = not negate
    return excluded


def _glob_regex(glob: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif glob.startswith("**", i):
            out += ".*"
            i += 2
        elif glob[i] == "*":
            out += "[^/]*"
            i += 1
        elif glob[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(glob[i])
            i += 1
    return re.compile(out)


def systemd_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> values (a key may repeat), as systemd reads a unit file."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        if not sep or current is None:
            raise ValueError(f"not a unit file line: {line!r}")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def systemd_exec_argv(value: str) -> list[str]:
    """ExecStart= as the argv systemd starts: prefixes dropped, quotes, `$$` and `%%`."""
    value = value.lstrip("-@:+!")
    return [w.replace("$$", "$").replace("%%", "%") for w in shlex.split(value)]


def launcher_invocations(script: str) -> list[list[str]]:
    """Every simple command in a shell script whose program is `launcher` (any path)."""
    lexer = shlex.shlex(script.replace("\\\n", " "), posix=True, punctuation_chars=";&|()<>\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    skip_next = False
    for token in lexer:
        if skip_next:
            skip_next = False
        elif "<" in token or ">" in token:
            skip_next = True  # a redirection and its target (`2>&1`: the 2 too)
            if commands[-1] and commands[-1][-1].isdigit():
                commands[-1].pop()
        elif set(token) <= _SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    found = []
    for words in commands:
        if words and words[0] == "exec":
            words = words[1:]
        if words and Path(words[0]).name == "launcher":
            found.append(["launcher", *words[1:]])
    return found


@dataclass
class HelpPage:
    """What one `launcher ... --help` page says the command accepts."""

    subcommands: set[str] = field(default_factory=set)
    options: dict[str, tuple[bool, set[str] | None]] = field(default_factory=dict)


@functools.cache
def help_page(*path: str) -> HelpPage:
    out = subprocess.run(
        [sys.executable, "-m", "launcher", *path, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    page = HelpPage()
    section = ""
    for line in out.splitlines():
        if line and not line.startswith(" "):
            section = line.rstrip(":")
            continue
        if section == "positional arguments" and (m := re.match(r"^    ([a-z][\w-]*)\s", line)):
            page.subcommands.add(m.group(1))
        if section == "options" and re.match(r"^  -", line):
            for m in re.finditer(r"(--[a-z][\w-]*)(?: (\{[^}]*\}|[A-Z][A-Z_]*))?", line):
                arg = m.group(2)
                choices = set(arg[1:-1].split(",")) if arg and arg.startswith("{") else None
                page.options[m.group(1)] = (arg is not None, choices)
    return page


def cli_problems(argv: list[str]) -> list[str]:
    """What `launcher --help` pages say is wrong with argv (argv[0] is `launcher`)."""
    path: list[str] = []
    words = argv[1:]
    while words and not words[0].startswith("-") and help_page(*path).subcommands:
        page = help_page(*path)
        if words[0] not in page.subcommands:
            return [f"`launcher {' '.join([*path, words[0]])}` is not a command"]
        path.append(words.pop(0))
    page = help_page(*path)
    problems: list[str] = []
    while words:
        word = words.pop(0)
        if not word.startswith("--"):
            continue
        name, eq, inline = word.partition("=")
        if name not in page.options:
            problems.append(f"`launcher {' '.join(path)}` has no option {name}")
            continue
        takes_value, choices = page.options[name]
        if takes_value and not eq:
            inline = words.pop(0) if words else ""
        if choices is not None and inline not in choices:
            problems.append(f"{name} {inline!r} is not one of {sorted(choices)}")
    return problems


# The example files, and what tests read from them as their engines would.
CRONJOB = DEPLOY / "kubernetes" / "cronjob.yaml"
INDEXED = DEPLOY / "kubernetes" / "indexed-job.yaml"
WORKFLOW = DEPLOY / "github" / "launcher.yml"
SERVICE = DEPLOY / "systemd" / "launcher.service"
TIMER = DEPLOY / "systemd" / "launcher.timer"
HOOKS = ROOT / ".pre-commit-hooks.yaml"

# Features that the examples already use but the launcher does not have yet.
# Each turns its cases into strict xfails: when the feature lands they pass, the xfail
# turns into a failure, and the entry must be deleted here.
PENDING: dict[str, str] = {}


def until(*features: str) -> pytest.MarkDecorator:
    """A strict xfail while any of these features is still in PENDING, then none."""
    reasons = [PENDING[f] for f in features if f in PENDING]
    return pytest.mark.xfail(bool(reasons), strict=True, reason="; ".join(reasons) or "landed")


def pending_reason(argv: list[str]) -> str | None:
    words = " ".join(argv)
    found = [reason for feature, reason in PENDING.items() if feature in words]
    return "; ".join(found) or None


def objects(path: Path) -> dict[str, dict[str, Any]]:
    """kind -> object, for a file of Kubernetes objects (one of each kind)."""
    return {doc["kind"]: doc for doc in yaml.safe_load_all(path.read_text()) if doc}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    job = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    spec: dict[str, Any] = job["template"]["spec"]
    return spec


def workflow() -> dict[str, Any]:
    doc: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def gha_expand(text: str, values: dict[str, str]) -> str:
    """`${{ expr }}` replaced as GitHub would, for the expressions the workflow uses."""
    return re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: values.get(m.group(1), "X"), text)
