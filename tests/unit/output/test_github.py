"""`validate --format github`: each diagnostic one GitHub Actions `::error` command on the
offending file, line and column, hostile text escaped so it cannot start a command."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.cli import main
from launcher.output.github import escape_data, escape_property

BAD = "version: 1\nsessions:\n  - name: x\n    prompt: hi\n    promt: hi\n"


def validate(capsys: pytest.CaptureFixture[str], *paths: str) -> tuple[int, list[str], str]:
    code = main(["validate", "--format", "github", *paths])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_a_bad_key_is_an_error_annotation_on_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "bad.yaml").write_text(BAD)
    code, lines, err = validate(capsys, "manifests/")
    assert code == 2
    assert lines == [
        "::error file=manifests/bad.yaml,line=5,col=5,title=launcher validate::"
        "sessions[0].promt: unknown key `promt`; did you mean `prompt`?"
    ]
    assert err == "1 error in 1 of 1 file\n"
    # An absolute path inside the checkout is named as GitHub names it: relative.
    code, absolute, _ = validate(capsys, str(tmp_path / "manifests" / "bad.yaml"))
    assert absolute == lines


def test_a_good_manifest_prints_no_annotation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ok.yaml").write_text("version: 1\nsessions:\n  - name: x\n    prompt: hi\n")
    assert validate(capsys, str(tmp_path)) == (0, [], "ok: 1 file, 1 entry\n")


def test_hostile_text_cannot_end_the_command_or_start_another(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("evil,name:x.yaml").write_text(
        'version: 1\nsessions:\n  - name: x\n    prompt: hi\n    "a%b\\r\\n::warning::pwned": 1\n'
    )
    code, lines, _ = validate(capsys, "evil,name:x.yaml")
    assert code == 2 and len(lines) == 1
    (line,) = lines
    assert line.startswith("::error file=evil%2Cname%3Ax.yaml,line=5,col=5,title=")
    assert "a%25b%0D%0A::warning::pwned" in line
    assert "\r" not in line


@pytest.mark.parametrize(
    ("text", "data", "prop"),
    [
        ("100%", "100%25", "100%25"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("k: v, w", "k: v, w", "k%3A v%2C w"),
        ("%0A", "%250A", "%250A"),
    ],
)
def test_escaping_follows_github(text: str, data: str, prop: str) -> None:
    assert escape_data(text) == data
    assert escape_property(text) == prop


def test_only_validate_offers_the_github_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "x", "--format", "github"]) == 2
    assert "invalid choice: 'github'" in capsys.readouterr().err
