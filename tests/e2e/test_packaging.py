"""The built artefacts, as a user or a packager gets them: `python -m build` makes a wheel
and an sdist that `twine check` accepts; the wheel, installed into a fresh venv, runs
`launcher --version` and, with the sandbox extra, the demo's `run --sandbox --wait`; the
sdist holds the tests and schemas; an interpreter below the floor is refused by pip."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import ROOT

pytestmark = pytest.mark.slow

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
NAME, VERSION = PROJECT["name"], PROJECT["version"]
FLOOR = PROJECT["requires-python"].removeprefix(">=")
# uv (a test extra) makes venvs and installs into them in a tenth of pip's time.
UV = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))


def _run(
    *argv: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=check,
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("dist")
    installer = ["--installer", "uv"] if UV else []
    _run(sys.executable, "-m", "build", "--outdir", out, *installer, ROOT, cwd=ROOT)
    yield out


def _one(dist: Path, pattern: str) -> Path:
    (found,) = glob.glob(str(dist / pattern))
    return Path(found)


def test_wheel_and_sdist_are_named_for_the_distribution_and_pass_twine(dist: Path) -> None:
    stem = NAME.replace("-", "_")
    wheel = _one(dist, f"{stem}-{VERSION}-py3-none-any.whl")
    sdist = _one(dist, f"{stem}-{VERSION}.tar.gz")
    checked = _run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)
    assert checked.stdout.count("PASSED") == 2, checked.stdout
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(f"{stem}-{VERSION}.dist-info/METADATA").decode()
    assert "launcher/cli/__init__.py" in names
    assert "launcher/_schemas/manifest.schema.json" in names
    assert f"Requires-Python: >={FLOOR}" in metadata
    assert not any(n.startswith("tests/") for n in names)


def test_the_sdist_holds_what_a_packager_needs(dist: Path) -> None:
    sdist = _one(dist, "*.tar.gz")
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    for needed in (
        "pyproject.toml",
        "README.md",
        "noxfile.py",
        "schemas/manifest.schema.json",
        "tests/conftest.py",
        "tests/e2e/test_packaging.py",
        "launcher/__init__.py",
    ):
        assert needed in names, needed
    assert not any(n.startswith((".venv/", ".nox/", ".git/")) for n in names)


def _interpreter_below_the_floor() -> str | None:
    major, minor = (int(x) for x in FLOOR.split("."))
    below = f"{major}.{minor - 1}"
    found = shutil.which(f"python{below}")
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = [found] if found else []
    candidates += sorted(glob.glob(os.path.join(root, "versions", f"{below}.*", "bin", "python")))
    for candidate in candidates:
        probe = _run(candidate, "-c", "import sys; print(sys.version_info[:2])", check=False)
        if probe.returncode == 0:
            return candidate
    return None


def test_pip_refuses_the_wheel_below_the_floor_with_its_own_message(dist: Path) -> None:
    python = _interpreter_below_the_floor()
    if python is None:
        pytest.skip(f"no Python below {FLOOR} on this machine to try the floor with")
    wheel = _one(dist, "*.whl")
    refused = _run(python, "-m", "pip", "install", "--dry-run", "--no-deps", wheel, check=False)
    assert refused.returncode != 0
    assert "requires a different Python" in refused.stderr + refused.stdout
    assert f">={FLOOR}" in refused.stderr + refused.stdout


def _fresh_venv(venv: Path) -> Path:
    """A new virtual environment; its python. uv makes it (and installs into it) in a
    tenth of the time of `python -m venv` and pip, which is what the suite can afford;
    pip's own behaviour is tried below the floor and in the Dockerfile's steps."""
    if UV:
        _run(UV, "venv", "--quiet", "--python", sys.executable, venv)
    else:
        _run(sys.executable, "-m", "venv", venv)
    return venv / "bin" / "python"


def _install(python: Path, requirement: str) -> None:
    if UV:
        _run(UV, "pip", "install", "--quiet", "--python", python, requirement)
    else:
        _run(python, "-m", "pip", "install", "--quiet", requirement)


def test_the_wheel_in_a_fresh_venv_without_then_with_the_sandbox_extra(
    dist: Path, tmp_path: Path
) -> None:
    """`pip install devin-launcher` (no extras): no web framework, yet validate, plan and a
    real run against an API (here the suite's sandbox, over loopback) work; `--sandbox`
    and `launcher sandbox` say in one line how to get the extra. Then, with the extra
    added to the same venv, `--version` and the demo's `run --sandbox --wait`."""
    from launcher.sandbox.config import SandboxConfig
    from launcher.sandbox.server import running_sandbox

    py = _fresh_venv(tmp_path / "venv")
    launcher = py.parent / "launcher"
    wheel = _one(dist, "*.whl")
    _install(py, str(wheel))
    for module in ("starlette", "uvicorn"):
        assert _run(py, "-c", f"import {module}", check=False).returncode == 1, module
    examples = ROOT / "manifests" / "examples"
    key = "apk_no_extras_0123456789"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEVIN_", "LAUNCHER_"))}
    env.update(EXAMPLE_TOKEN="no-extras-token", DEVIN_API_KEY=key)

    assert _run(launcher, "validate", examples, env=env).returncode == 0
    plan = _run(launcher, "plan", examples, "--format", "json", cwd=tmp_path, env=env)
    assert '"create": 15' in plan.stdout
    with running_sandbox(SandboxConfig(host="127.0.0.1", port=0, api_key=key)) as sb:
        env["DEVIN_BASE_URL"] = sb.base_url
        run = _run(
            launcher, "run", examples, "--ledger", tmp_path / "l.jsonl", env=env, check=False
        )
        assert "15 created" in run.stdout, run.stdout + run.stderr
        assert sb.stats()["sessions"] == 15
    hint = "launcher: error: the sandbox needs the `sandbox` extra: pip install '{}[sandbox]'"
    hint = hint.format(NAME)
    for argv in (["run", examples, "--sandbox"], ["sandbox", "--port", "0"]):
        refused = _run(launcher, *argv, cwd=tmp_path, env=env, check=False)
        assert refused.returncode == 2
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(hint), refused.stderr
    assert not (tmp_path / "launcher-sandbox-ledger.jsonl").exists()

    # The extra, into the same venv: the demo, as the Quick start runs it.
    _install(py, f"{wheel}[sandbox]")
    version = _run(launcher, "--version")
    assert version.stdout == f"launcher {VERSION}\n"
    del env["DEVIN_API_KEY"], env["DEVIN_BASE_URL"]
    env["EXAMPLE_TOKEN"] = "demo-not-a-secret"
    ledger = tmp_path / "demo.jsonl"
    demo = _run(
        launcher,
        "run",
        examples,
        "--sandbox",
        "--wait",
        "--poll-interval",
        "1",
        "--ledger",
        ledger,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "demo-not-a-secret" not in demo.stdout + demo.stderr
    summary = _run(launcher, "ledger", "summary", ledger, env=env)
    assert "finished 15" in summary.stdout, summary.stdout
