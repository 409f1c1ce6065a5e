"""The sandbox as an extra: without starlette or uvicorn, `--sandbox` and `launcher sandbox`
say in one line how to install them (exit 2); the hint names the real distribution."""

from __future__ import annotations

import importlib.util
import shutil
import tomllib
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest

from launcher.cli import main
from launcher.sandbox import extra
from tests.support.paths import ROOT


def _without(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name in names else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_the_hint_names_the_distribution_pyproject_builds() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == extra.DISTRIBUTION
    assert sorted(project["optional-dependencies"]["sandbox"]) == [
        "starlette>=0.37",
        "uvicorn>=0.29",
    ]
    assert not any(d.startswith(("starlette", "uvicorn")) for d in project["dependencies"])


def test_installed_here_nothing_is_missing() -> None:
    assert extra.missing() == []


@pytest.mark.parametrize(
    "argv",
    [["sandbox", "--port", "0"], ["run", "manifests/examples", "--sandbox", "--ledger", "x"]],
    ids=["launcher sandbox", "run --sandbox"],
)
def test_without_the_extra_one_line_says_how_to_install_it(
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    _without(monkeypatch, "uvicorn")
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    monkeypatch.setenv("EXAMPLE_TOKEN", "t")

    code = main(argv)

    out, err = capsys.readouterr()
    assert code == 2
    assert err.strip().splitlines() == [
        "launcher: error: the sandbox needs the `sandbox` extra: "
        "pip install 'devin-launcher[sandbox]' (uvicorn not installed)"
    ]
    assert "Traceback" not in err and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifests"]  # no ledger made
