"""`prompt_file`: the prompt's text from a file beside the manifest, templated like
`prompt`, read as warily as a manifest, with diagnostics that point into the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from launcher.manifest import check
from launcher.manifest.nearby import MAX_PROMPT_BYTES

MANIFEST = """\
version: 1
defaults:
  prompt_file: prompts/default.md
sessions:
  - name: up-${{ matrix.repo }}
    matrix: {repo: [api, web]}
    prompt_file: prompts/upgrade.md
  - name: inline
    prompt: Written out here.
  - name: from-defaults
"""


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "upgrade.md").write_text(
        "# Upgrade\n\nUpgrade acme/${{ matrix.repo }} to Python 3.12.\n"
    )
    (tmp_path / "prompts" / "default.md").write_text("The default task.\n")
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST)
    return path


def test_the_prompt_is_the_files_text_templated(manifest: Path) -> None:
    result = check([str(manifest)])
    assert result.diagnostics == []
    prompts = {e.name: e.request["prompt"] for e in result.entries}
    assert prompts == {
        "up-api": "# Upgrade\n\nUpgrade acme/api to Python 3.12.\n",
        "up-web": "# Upgrade\n\nUpgrade acme/web to Python 3.12.\n",
        "inline": "Written out here.",  # a session's `prompt` replaces the default file
        "from-defaults": "The default task.\n",
    }
    assert "prompt_file" not in result.entries[0].request


def test_editing_the_file_changes_the_entries_content(manifest: Path) -> None:
    before = {e.name: e.content for e in check([str(manifest)]).entries}
    (manifest.parent / "prompts" / "upgrade.md").write_text("Upgrade ${{ matrix.repo }}.\n")
    after = {e.name: e.content for e in check([str(manifest)]).entries}
    assert [n for n in before if before[n] != after[n]] == ["up-api", "up-web"]


def test_a_template_error_points_into_the_prompt_file(manifest: Path) -> None:
    prompt = manifest.parent / "prompts" / "upgrade.md"
    prompt.write_text("Upgrade\n  acme/${{ matrix.rpo }} and ${{ env.HOME }}\nthen ${{ oops\n")
    diagnostics = check([str(manifest)]).diagnostics
    assert [(d.file, d.line, d.col, d.message[:40]) for d in diagnostics] == [
        (str(prompt), 2, 8, "undefined matrix variable `rpo` in sessi"),
        (str(prompt), 2, 30, "`${{ env.HOME }}`: env lookups are allow"),
        (str(prompt), 3, 6, "unterminated template: close it with `}}"),
    ]


def test_a_prompt_file_over_the_limit(manifest: Path) -> None:
    prompt = manifest.parent / "prompts" / "default.md"
    prompt.write_text("x" * (MAX_PROMPT_BYTES + 1))
    [d] = check([str(manifest)]).diagnostics
    assert (d.file, d.line, d.col) == (str(prompt), 1, 1)
    assert d.message.startswith("a prompt file may be at most 256 KiB (262,144 bytes)")


def test_a_prompt_file_that_is_not_utf8(manifest: Path) -> None:
    prompt = manifest.parent / "prompts" / "default.md"
    prompt.write_bytes(b"line one\nna\xefve\n")
    [d] = check([str(manifest)]).diagnostics
    assert (d.file, d.line, d.col) == (str(prompt), 2, 3)
    assert "not UTF-8 (byte 0xef)" in d.message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_hostile_prompt_files_are_refused(manifest: Path, tmp_path: Path) -> None:
    prompt = manifest.parent / "prompts" / "default.md"
    prompt.unlink()
    os.mkfifo(prompt)
    [d] = check([str(manifest)]).diagnostics
    assert "not a regular file but a FIFO (named pipe)" in d.message
    prompt.unlink()
    prompt.symlink_to("/dev/zero")
    [d] = check([str(manifest)]).diagnostics
    assert (d.file, d.line) == (str(manifest), 3)
    assert "leads out of the manifest's folder through a symlink" in d.message


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        ("/etc/passwd", "`/etc/passwd` is absolute; write a path relative to the manifest"),
        ("~/.ssh/id_rsa", "is absolute"),
        ("../../etc/passwd", "leads out of the manifest's folder; keep the files"),
        ("prompts", "not a regular file but a folder"),
    ],
)
def test_a_prompt_file_must_be_a_file_inside_the_manifests_folder(
    manifest: Path, written: str, fragment: str
) -> None:
    manifest.write_text(MANIFEST.replace("prompts/default.md", written))
    [d] = check([str(manifest)]).diagnostics
    assert fragment in d.message
