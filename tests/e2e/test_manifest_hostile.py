"""Hostile manifest files and names, and manifests read from stdin.

Files: a FIFO never blocks, a device never fills memory, a file over the size cap and a
nesting bomb built from aliases are refused, each with a diagnostic naming the file and
exit 2, never a traceback. The launcher runs as a real process where a hang or a memory
blow-up is what would go wrong, so that the test fails (by timeout, by a memory limit)
instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path

import pytest

from launcher.cli import main
from launcher.manifest import check
from launcher.manifest.compose import MAX_DEPTH, MAX_NODES
from launcher.manifest.discover import MAX_FILE_BYTES
from tests.support.paths import MANIFESTS
from tests.support.runkit import MakeSandbox, created, launcher_cmd, launcher_env, read_ledger

MANIFEST = "version: 1\nsessions:\n  - name: hello\n    prompt: say hello\n"
MEMORY_LIMIT = 1 << 30  # address space of the launcher process in these tests


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def launcher(
    *args: str, stdin: str | bytes | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The launcher as a process of its own, with a memory limit and a timeout."""
    raw = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run(
        launcher_cmd(*args),
        input=raw,
        capture_output=True,
        env=launcher_env(),
        cwd=cwd,
        timeout=timeout,
        preexec_fn=_limited,
        check=False,
    )
    out, err = done.stdout.decode(), done.stderr.decode()
    assert "Traceback" not in out + err, err
    return subprocess.CompletedProcess(done.args, done.returncode, out, err)


# --- hostile files ---------------------------------------------------------


def test_a_fifo_in_a_folder_or_named_is_reported_without_blocking(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "good.yaml").write_text(MANIFEST)
    os.mkfifo(folder / "pipe.yaml")  # nobody ever writes to it
    os.mkfifo(tmp_path / "named.yml")
    done = launcher("validate", str(folder), str(tmp_path / "named.yml"))
    assert done.returncode == 2
    assert done.stdout.splitlines() == [
        f"{folder / 'pipe.yaml'}:1:1: error: not a regular file but a FIFO (named pipe); "
        "a manifest must be a regular file",
        f"{tmp_path / 'named.yml'}:1:1: error: not a regular file but a FIFO (named pipe); "
        "a manifest must be a regular file",
    ]


def test_a_symlink_to_dev_zero_is_refused_not_read(tmp_path: Path) -> None:
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    (tmp_path / "urandom.yml").symlink_to("/dev/urandom")
    done = launcher("validate", str(tmp_path))
    assert done.returncode == 2
    assert done.stdout.count("not a regular file but a character device") == 2
    assert f"{tmp_path / 'zero.yaml'}:1:1: error: " in done.stdout


def test_the_size_cap_names_the_file_and_the_cap(tmp_path: Path) -> None:
    at_cap = tmp_path / "at-cap.yaml"
    body = MANIFEST + "# "
    at_cap.write_text(body + "x" * (MAX_FILE_BYTES - len(body) - 1) + "\n")
    assert at_cap.stat().st_size == MAX_FILE_BYTES
    assert check([str(at_cap)]).diagnostics == []
    over = tmp_path / "over.yaml"
    over.write_bytes(at_cap.read_bytes() + b"\n")
    [diag] = check([str(over)]).diagnostics
    assert (diag.file, diag.line) == (str(over), 1)
    assert diag.message == (
        "a manifest may be at most 4 MiB (4,194,304 bytes); this one is 4,194,305 bytes: "
        "split it into several files"
    )


def _alias_chain(levels: int, shape: str) -> str:
    """A schema whose nesting is written once and multiplied by aliases: each anchor
    holds the one before it, so `*a{levels}` is `levels` times `shape` deep."""
    lines = ["version: 1", "x-a:", "  a0: &a0 {}"]
    lines += [f"  a{i}: &a{i} " + shape.replace("PREV", f"*a{i - 1}") for i in range(1, levels + 1)]
    lines += [
        "sessions:",
        "  - name: n",
        "    prompt: p",
        f"    structured_output_schema: *a{levels}",
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("shape", ["{properties: {p: PREV}}", "{items: [PREV]}", "{not: PREV}"])
@pytest.mark.slow
def test_nesting_through_aliases_counts_after_expansion(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(_alias_chain(200, shape))
    done = launcher("validate", str(path))
    assert done.returncode == 2
    [line] = done.stdout.splitlines()
    assert line.startswith(f"{path}:")
    assert f"nested more than {MAX_DEPTH} levels deep once `*a" in line


def test_alias_depth_boundary(tmp_path: Path) -> None:
    """`{not: PREV}` adds one level per anchor: `*aK` is K + 1 levels tall (a0 is `{}`),
    and the schema sits under 3 open levels (the top, `sessions`, the session)."""
    path = tmp_path / "m.yaml"
    fits = MAX_DEPTH - 4  # 3 + (fits + 1) == MAX_DEPTH
    path.write_text(_alias_chain(fits, "{not: PREV}"))
    assert check([str(path)]).diagnostics == []
    path.write_text(_alias_chain(fits + 1, "{not: PREV}"))
    [diag] = check([str(path)]).diagnostics
    assert diag.where == "sessions[0].structured_output_schema"
    assert (
        f"nested more than {MAX_DEPTH} levels deep once `*a{fits + 1}` is expanded" in diag.message
    )


@pytest.mark.slow
def test_too_many_values_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST + "x-many: [" + "1," * MAX_NODES + "1]\n")
    assert path.stat().st_size < MAX_FILE_BYTES
    [diag] = check([str(path)]).diagnostics
    assert (
        diag.message
        == f"the file holds more than {MAX_NODES:,} values (aliases expanded); split it up"
    )


# --- names -----------------------------------------------------------------


def test_invisible_characters_in_names_never_reach_the_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = MANIFESTS / "bad" / "name-invisible-or-hash"
    for fmt in ("text", "json"):
        assert main(["validate", "--format", fmt, str(folder)]) == 2
        out, err = capsys.readouterr()
        diagnostics = [] if fmt == "text" else json.loads(out)["diagnostics"]
        shown = out if fmt == "text" else "".join(d["message"] for d in diagnostics)
        for char in "\u202e\u200b\u2066\u2028":
            assert char not in shown + err
        assert "U+202E (RIGHT-TO-LEFT OVERRIDE)" in shown


def test_a_name_with_hash_would_make_entry_ids_ambiguous(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "version: 1\nsessions:\n  - name: x#y\n    prompt: p\n"
        "  - name: t-${{ matrix.n }}\n    prompt: p\n    matrix:\n      n: ['1', '#2']\n"
    )
    diags = check([str(tmp_path)]).diagnostics
    assert [(d.line, d.where) for d in diags] == [(3, "sessions[0].name"), (5, "sessions[1].name")]
    assert all("contains `#`, which separates FILE from NAME" in d.message for d in diags)
    assert '{"n": "#2"}' in diags[1].message


# --- `-` reads a manifest from stdin ----------------------------------------


@pytest.mark.slow
def test_validate_stdin_names_it_stdin() -> None:
    bad = MANIFEST.replace("prompt: say hello", "prompt: say hello\n    max_acu_limit: '8'")
    done = launcher("validate", "-", stdin=bad)
    assert done.returncode == 2
    assert done.stdout == (
        "<stdin>:5:20: error: sessions[0].max_acu_limit: expected an integer or null, "
        'got the string "8"; remove the quotes: 8\n'
    )
    done = launcher("validate", "-", stdin=MANIFEST)
    assert (done.returncode, done.stdout) == (0, "")
    assert "ok: 1 file, 1 entry" in done.stderr


def test_stdin_has_the_same_size_cap() -> None:
    done = launcher("validate", "-", stdin=MANIFEST + "#" * MAX_FILE_BYTES)
    assert done.returncode == 2
    assert done.stdout.startswith("<stdin>:1:1: error: a manifest may be at most 4 MiB")


def test_a_closed_stdin_is_a_diagnostic() -> None:
    done = subprocess.run(
        ["/bin/sh", "-c", 'exec "$@" <&-', "sh", *launcher_cmd("validate", "-")],
        capture_output=True,
        text=True,
        env=launcher_env(),
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (
        2,
        "<stdin>:1:1: error: cannot read stdin: it is closed\n",
    )
    assert "Traceback" not in done.stderr


def test_plan_stdin_with_files_keys_entries_dash_hash_name(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text(MANIFEST.replace("hello", "other"))
    done = launcher(
        "plan", "-", str(tmp_path / "other.yaml"), "-", "--format", "json",
        "--ledger", str(tmp_path / "l.jsonl"), stdin=MANIFEST,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    entries = json.loads(done.stdout)["entries"]
    assert [(e["entry"], e["file"]) for e in entries] == [
        ("-#hello", "-"),
        ("other.yaml#other", "other.yaml"),
    ]  # `-` twice reads stdin once


def test_a_file_named_dash_is_read_as_dot_slash_dash(tmp_path: Path) -> None:
    (tmp_path / "-").write_text(MANIFEST)
    done = launcher("validate", "./-", stdin="", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "")


@pytest.mark.slow
def test_run_from_stdin_resumes_like_a_file(tmp_path: Path, make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox()
    ledger = tmp_path / "l.jsonl"
    args = ("run", "-", "--base-url", sb.base_url, "--ledger", str(ledger))
    done = launcher(*args, stdin=MANIFEST)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(created(read_ledger(ledger))) == ["-#hello"]
    again = launcher(*args, stdin=MANIFEST)
    assert again.returncode == 0 and "nothing to send: the one entry" in again.stderr
    assert sb.stats()["requests"] == 1
