"""The README's Quick start and the guides' CI and cron recipes, taken from their fenced
blocks and run as written, so that the docs cannot drift from what the launcher does.

Each runs in a temporary working directory and HOME holding a copy of `manifests/`,
against a real sandbox (in a thread, over loopback) that accepts one key. Substituted, and
nothing else (docs/development.md says the same): `make demo` and `pip install .` are not
run, `.venv` being linked to the environment running the suite (which `make demo` or
`make test` made, and which is that install); the real API is the sandbox, through
`DEVIN_BASE_URL`, and `apk_...`, the secret and the key file hold its key; the examples'
`EXAMPLE_TOKEN` is set as a workflow or a crontab would set it; cron's absolute paths
are temporary folders and `mail` a shell function that records what it was sent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.handle import SandboxHandle
from launcher.sandbox.server import running_sandbox
from tests.support.paths import ROOT
from tests.support.runkit import API_KEY, assert_no_secrets

REPO = ROOT
README = (REPO / "README.md").read_text()
CI_GUIDE = (REPO / "docs" / "guides" / "ci.md").read_text()
CRON_GUIDE = (REPO / "docs" / "guides" / "nightly-cron.md").read_text()
VENV = Path(sys.prefix)
EXAMPLES = 15  # entries in manifests/examples


def fenced(heading: str, lang: str, text: str = README) -> str:
    """The first ```lang block after the line `heading` of `text`."""
    start = ("\n" + text).index("\n" + heading + "\n")
    m = re.compile(rf"^```{lang}\n(.*?)^```$", re.M | re.S).search(text, start)
    assert m, f"no ```{lang} block after {heading}"
    return m.group(1)


@pytest.fixture
def sandbox_with_key() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(host="127.0.0.1", port=0, api_key=API_KEY)) as sb:
        yield sb


@pytest.fixture
def home(tmp_path: Path) -> Path:
    if not (VENV / "bin" / "activate").exists() or not (VENV / "bin" / "launcher").exists():
        pytest.skip("the suite does not run in the .venv that `make demo` makes")
    (tmp_path / "home").mkdir()
    return tmp_path


def _env(home: Path, sb: SandboxHandle, **extra: str) -> dict[str, str]:
    """A clean environment: launcher NOT on PATH, the sandbox as the API, a temporary HOME."""
    venv_bin = str(VENV / "bin")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEVIN_", "VIRTUAL_ENV"))}
    env.update(PATH=os.pathsep.join(path), HOME=str(home / "home"), DEVIN_BASE_URL=sb.base_url)
    env.pop("EXAMPLE_TOKEN", None)
    env.update(extra)
    return env


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
def test_quick_start_runs_as_written_on_a_fresh_clone(
    home: Path, sandbox_with_key: SandboxHandle
) -> None:
    sb = sandbox_with_key
    block = fenced("## Quick start", "sh")
    lines = block.splitlines()
    assert lines[0].startswith("make demo "), "the quick start begins with `make demo`"
    clone = home / "clone"
    shutil.copytree(REPO / "manifests", clone / "manifests")
    (clone / ".venv").symlink_to(VENV)  # what `make demo` leaves behind
    script = "\n".join(lines[1:]).replace("apk_...", API_KEY)
    assert "launcher" not in _bash("command -v launcher || true", clone, _env(home, sb)).stdout

    done = _bash(script, clone, _env(home, sb))

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"ok: 5 files, {EXAMPLES} entries" in done.stderr
    assert "the key in DEVIN_API_KEY works" in done.stdout
    assert done.stdout.count(f"{EXAMPLES} created") == 2  # the sandbox rehearsal, the run
    assert f"created {EXAMPLES}  adopted 0  failed 0  in doubt 0  pending 0" in done.stdout
    stats = sb.stats()
    assert (stats["sessions"], stats["list_gets"], stats["duplicate_bodies"]) == (EXAMPLES, 1, 0)
    assert (clone / "state" / "ledger.jsonl").exists()
    assert_no_secrets(done.stdout, done.stderr)


def _steps() -> list[dict[str, object]]:
    steps = yaml.safe_load(fenced("# CI and GitHub Actions", "yaml", CI_GUIDE))
    assert isinstance(steps, list)
    return steps


def _run_workflow(clone: Path, env: dict[str, str]) -> dict[str, str]:
    """Every step in order, as GitHub's bash does; the `steps.plan.outputs` it wrote."""
    outputs: dict[str, str] = {}
    for step in _steps():
        run = str(step["run"])
        if run == "pip install .":
            continue  # the suite's environment is that install
        condition = step.get("if")
        if condition is not None:
            m = re.fullmatch(r"steps\.plan\.outputs\.(\w+) == '(\w+)'", str(condition))
            assert m, f"the test understands no other condition: {condition}"
            if outputs.get(m.group(1)) != m.group(2):
                continue
        step_env = dict(env)
        for name, value in dict(step.get("env") or {}).items():  # type: ignore[call-overload]
            assert value == "${{ secrets.DEVIN_API_KEY }}"
            step_env[name] = API_KEY
        github_output = clone / "github-output"
        github_output.write_text("")
        step_env["GITHUB_OUTPUT"] = str(github_output)
        done = _bash(run.replace("${{ github.sha }}", "0123abcd"), clone, step_env)
        assert done.returncode == 0, (run, done.stdout, done.stderr)
        assert_no_secrets(done.stdout, done.stderr)
        if step.get("id"):
            for line in github_output.read_text().splitlines():
                key, _, value = line.partition("=")
                outputs[key] = value
    return outputs


@pytest.mark.slow
def test_ci_recipe_runs_as_written_and_gates_on_the_plan(
    home: Path, sandbox_with_key: SandboxHandle
) -> None:
    import json

    sb = sandbox_with_key
    assert _steps()[0]["run"] == "pip install ."  # not ./launcher: the README was wrong
    assert "deploy/github/launcher.yml" in CI_GUIDE.split("# CI and GitHub Actions")[1][:400]
    clone = home / "checkout"
    shutil.copytree(REPO / "manifests", clone / "manifests")
    env = _env(home, sb, EXAMPLE_TOKEN="ci-token")
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env['PATH']}"  # what `pip install .` gives

    assert _run_workflow(clone, env) == {"create": "true"}
    assert json.loads((clone / "plan.json").read_text())["counts"]["create"] == EXAMPLES
    run = json.loads((clone / "run.json").read_text())
    assert (run["ok"], run["created"]) == (True, EXAMPLES)
    assert sb.stats()["sessions"] == EXAMPLES

    # The next push: nothing left to create, so neither auth check nor run starts.
    (clone / "run.json").unlink()
    assert _run_workflow(clone, env) == {"create": "false"}
    assert not (clone / "run.json").exists()
    assert sb.stats()["sessions"] == EXAMPLES and sb.stats()["list_gets"] == 1


def _cron_commands(root: Path) -> list[str]:
    """The crontab's commands: continuation lines joined, schedule fields dropped, `\\%` as
    cron passes it to the shell, the absolute paths moved under `root`."""
    joined = re.sub(r"\\\n\s*", " ", fenced("## The crontab", "cron", CRON_GUIDE))
    commands = []
    for line in joined.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        command = line.split(None, 5)[5].replace("\\%", "%")
        for path in ("/srv/launcher", "/var/lib/launcher", "/var/log/launcher", "/etc/launcher"):
            command = command.replace(path, str(root / path.strip("/").replace("/", "-")))
        commands.append(command)
    return commands


@pytest.mark.slow
def test_cron_recipe_runs_as_written_and_alerts_on_entries_never_sent(
    home: Path, sandbox_with_key: SandboxHandle
) -> None:
    sb = sandbox_with_key
    nightly, morning = _cron_commands(home)
    srv = home / "srv-launcher"
    shutil.copytree(REPO / "manifests" / "examples", srv / "manifests" / "nightly")
    (srv / ".venv").symlink_to(VENV)
    for folder in ("var-lib-launcher", "var-log-launcher", "etc-launcher"):
        (home / folder).mkdir()
    (home / "etc-launcher" / "key").write_text(API_KEY + "\n")
    mailed = home / "mailed"
    prelude = f'mail() {{ echo "mail $*" >> {mailed}; cat >> {mailed}; }}\n'
    env = _env(home, sb, EXAMPLE_TOKEN="cron-token")

    for command in (nightly, morning):
        done = _bash(prelude + command, home, env)
        assert done.returncode == 0 and not mailed.exists(), (command, done.stderr)
    assert sb.stats()["sessions"] == EXAMPLES
    log = (home / "var-log-launcher" / "launcher.log").read_text()
    assert f"created {EXAMPLES}" in log

    # A night that never got to some entries: the ledger cannot know them, the check does.
    extra = srv / "manifests" / "nightly" / "late.yaml"
    extra.write_text("version: 1\nsessions:\n  - name: added-late\n    prompt: p\n")
    done = _bash(prelude + morning, home, env)
    assert done.returncode == 0  # the `|| mail` handled the exit 1
    assert "launcher nightly incomplete" in mailed.read_text()
    assert (
        "pending  late.yaml#added-late  never sent"
        in (home / "var-log-launcher" / "launcher.log").read_text()
    )
    assert_no_secrets(log, mailed.read_text())
