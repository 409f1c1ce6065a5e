"""The commands inside the deployment examples, run for real against the sandbox.

No container daemon, cluster or GitHub runner here: each test takes the command out of
the example file, maps the paths its engine would mount (volumes, state directories)
to temporary folders, sets the environment its engine would set, and runs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from launcher.sandbox.handle import SandboxHandle
from tests.support.deploykit import (
    CRONJOB,
    HOOKS,
    INDEXED,
    ROOT,
    SERVICE,
    dockerfile_instructions,
    dockerignore_excludes,
    gha_expand,
    objects,
    pod_spec,
    run_flags_and_command,
    systemd_exec_argv,
    systemd_unit,
    until,
    workflow,
)
from tests.support.runkit import API_KEY, assert_no_secrets, created, read_ledger, write_manifest

BIN = Path(sys.executable).parent  # this venv's `launcher` console script lives here


def run(
    argv: list[str], *, env: Mapping[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def base_env(sandbox: SandboxHandle | None, **extra: str) -> dict[str, str]:
    """A clean environment: no DEVIN_* from the developer's shell, the sandbox's URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVIN_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if sandbox is not None:
        env["DEVIN_BASE_URL"] = sandbox.base_url
    env.update(extra)
    return env


def configmap_mount(mount: Path, files: dict[str, str]) -> None:
    """The layout Kubernetes gives a mounted ConfigMap: symlinks into a hidden `..data`."""
    data = mount / "..2026_11_29_02_10_00.000000001"
    data.mkdir(parents=True)
    for name, text in files.items():
        (data / name).write_text(text)
    (mount / "..data").symlink_to(data.name)
    for name in files:
        (mount / name).symlink_to(f"..data/{name}")


def manifest_text(tmp_path: Path, count: int) -> str:
    return write_manifest(tmp_path / "scratch" / "m.yaml", count, secret=False).read_text()


def container_env(container: dict[str, Any], job_name: str) -> dict[str, str]:
    """The container's env as the kubelet sets it: the Secret holds the test key."""
    env: dict[str, str] = {}
    for item in container["env"]:
        source = item.get("valueFrom", {})
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "secretKeyRef" in source:
            env[item["name"]] = API_KEY
        elif source["fieldRef"]["fieldPath"] == "metadata.labels['job-name']":
            env[item["name"]] = job_name
    return env


def map_mounts(text: str, mounts: dict[str, Path]) -> str:
    for inside in sorted(mounts, key=len, reverse=True):
        text = re.sub(re.escape(inside) + r"(?=/|\b|$)", str(mounts[inside]), text)
    return text


# --- Kubernetes -------------------------------------------------------------------------


@pytest.mark.slow
def test_cronjob_command_dispatches_once_per_job(sandbox: SandboxHandle, tmp_path: Path) -> None:
    container = pod_spec(objects(CRONJOB)["CronJob"])["containers"][0]
    mounts = {"/var/lib/launcher": tmp_path / "pvc", "/manifests": tmp_path / "configmap"}
    mounts["/var/lib/launcher"].mkdir()
    configmap_mount(mounts["/manifests"], {"nightly.yaml": manifest_text(tmp_path, 12)})

    def pod(job_name: str) -> subprocess.CompletedProcess[str]:
        env = container_env(container, job_name)
        args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in container["args"]]
        args = [map_mounts(a, mounts) for a in args]
        return run([str(BIN / "launcher"), *args], env=base_env(sandbox, **env), cwd=tmp_path)

    first = pod("launcher-nightly-29412370")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["created"] == 12
    ledger = tmp_path / "pvc" / "nightly.jsonl"
    assert len(created(read_ledger(ledger))) == 12
    retried = pod("launcher-nightly-29412370")  # the Job's pod again: backoffLimit
    assert retried.returncode == 0 and json.loads(retried.stdout)["created"] == 0
    assert sandbox.stats()["requests"] == 12
    next_night = pod("launcher-nightly-29413810")
    assert json.loads(next_night.stdout)["created"] == 12
    assert sandbox.stats()["requests"] == 24
    assert_no_secrets(first.stdout, first.stderr, retried.stderr, ledger.read_text())


def indexed_pods(tmp_path: Path, sandbox: SandboxHandle | None) -> list[dict[str, str]]:
    """Each pod's environment in the Indexed Job: JOB_COMPLETION_INDEX 0..N-1."""
    job = objects(INDEXED)["Job"]
    container = pod_spec(job)["containers"][0]
    env = base_env(sandbox, **container_env(container, "launcher-sharded"))
    return [{**env, "JOB_COMPLETION_INDEX": str(i)} for i in range(job["spec"]["completions"])]


def indexed_script(mounts: dict[str, Path] | None = None) -> str:
    script: str = pod_spec(objects(INDEXED)["Job"])["containers"][0]["args"][0]
    return map_mounts(script, mounts or {})


def test_indexed_job_shell_gives_pod_i_shard_i_plus_1(tmp_path: Path) -> None:
    """The arithmetic only: a stand-in `launcher` on PATH records what the shell passed."""
    shim = tmp_path / "bin" / "launcher"
    shim.parent.mkdir()
    shim.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_OUT"\n')
    shim.chmod(0o755)
    seen = []
    for env in indexed_pods(tmp_path, None):
        out = tmp_path / f"args-{env['JOB_COMPLETION_INDEX']}"
        env = {**env, "PATH": f"{shim.parent}{os.pathsep}{env['PATH']}", "ARGS_OUT": str(out)}
        done = run(["sh", "-c", indexed_script()], env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        argv = out.read_text().splitlines()
        seen.append((argv[argv.index("--shard") + 1], argv[argv.index("--ledger") + 1]))
    count = len(seen)
    assert [shard for shard, _ in seen] == [f"{k}/{count}" for k in range(1, count + 1)]
    assert len({ledger for _, ledger in seen}) == count
    assert all(ledger.startswith("/var/lib/launcher/") for _, ledger in seen)


@until("--shard")
@pytest.mark.slow
def test_indexed_job_pods_split_the_batch_against_the_sandbox(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    mounts = {"/var/lib/launcher": tmp_path / "pvc", "/manifests": tmp_path / "configmap"}
    mounts["/var/lib/launcher"].mkdir()
    configmap_mount(mounts["/manifests"], {"batch.yaml": manifest_text(tmp_path, 30)})
    script = indexed_script(mounts)
    for env in indexed_pods(tmp_path, sandbox):
        done = run(["sh", "-c", script], env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert_no_secrets(done.stdout, done.stderr)
    ledgers = sorted(mounts["/var/lib/launcher"].glob("*.jsonl"))
    per_shard = [set(created(read_ledger(ledger))) for ledger in ledgers]
    assert len(ledgers) == 3 and all(per_shard)
    assert sum(map(len, per_shard)) == len(set().union(*per_shard)) == 30
    assert sandbox.stats()["sessions"] == 30


# --- systemd ----------------------------------------------------------------------------


@pytest.mark.slow
def test_systemd_exec_start_dispatches_once_a_day(sandbox: SandboxHandle, tmp_path: Path) -> None:
    service = systemd_unit(SERVICE.read_text())["Service"]
    shell, flag, script = systemd_exec_argv(service["ExecStart"][0])
    script = re.sub(r"\S*/bin/launcher\b", str(BIN / "launcher"), script)
    workdir = tmp_path / "srv"  # WorkingDirectory=
    write_manifest(workdir / "manifests" / "nightly" / "nightly.yaml", 8, secret=False)
    state = tmp_path / "state"  # StateDirectory=, created by systemd
    state.mkdir()
    env = base_env(sandbox, DEVIN_API_KEY=API_KEY, STATE_DIRECTORY=str(state))
    first = run([shell, flag, script], env=env, cwd=workdir)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["created"] == 8
    again = run([shell, flag, script], env=env, cwd=workdir)  # Persistent=true catch-up
    assert again.returncode == 0 and json.loads(again.stdout)["created"] == 0
    assert sandbox.stats()["requests"] == 8
    ledger = state / "nightly.jsonl"
    assert_no_secrets(first.stdout, first.stderr, ledger.read_text())

    def actions(run_key: str) -> set[str]:
        plan = run(
            [
                str(BIN / "launcher"),
                "plan",
                "manifests/nightly",
                "--ledger",
                str(ledger),
                "--run-key",
                run_key,
                "--format",
                "json",
            ],
            env=env,
            cwd=workdir,
        )
        return {e["action"] for e in json.loads(plan.stdout)["entries"]}

    today = run(["date", "-u", "+%F"], env=env, cwd=workdir).stdout.strip()
    assert actions(today) == {"skip"}, "the run key is today's UTC date"
    assert actions("2000-01-01") == {"create"}


# --- GitHub Actions ---------------------------------------------------------------------

GITHUB = {"matrix.shard": "1", "github.run_id": "4242", "env.LEDGER": ""}


def job_scripts(job: str) -> list[str]:
    return [s["run"] for s in workflow()["jobs"][job]["steps"] if "launcher" in s.get("run", "")]


@until("--format github")
def test_workflow_pull_request_check_annotates_the_bad_line(tmp_path: Path) -> None:
    shutil.copy(ROOT / "manifests" / "examples" / "hello.yaml", tmp_path / "good.yaml")
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "bad.yaml").write_text(
        "version: 1\nsessions:\n  - name: x\n    prompt: hi\n    promt: hi\n"
    )
    (script,) = job_scripts("validate")
    done = run(["sh", "-c", gha_expand(script, GITHUB)], env=base_env(None), cwd=tmp_path)
    assert done.returncode == 2
    assert re.search(
        r"^::error file=manifests/bad\.yaml,line=5,col=5[^:]*::.*promt", done.stdout, re.M
    )


@until("--shard", "ledger merge")
@pytest.mark.slow
def test_workflow_shards_then_merge_leave_one_ledger_that_sends_nothing_again(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    dispatch = workflow()["jobs"]["dispatch"]
    artifacts = tmp_path / "merge" / "ledgers"  # download-artifact, merge-multiple: true
    artifacts.mkdir(parents=True)
    for shard in dispatch["strategy"]["matrix"]["shard"]:
        workspace = tmp_path / f"shard-{shard}"
        write_manifest(workspace / "manifests" / "batch.yaml", 30, secret=False)
        values = {**GITHUB, "matrix.shard": str(shard)}
        env = {k: gha_expand(str(v), values) for k, v in dispatch["env"].items()}
        env = base_env(sandbox, **env, DEVIN_API_KEY=API_KEY)
        (workspace / Path(env["LEDGER"]).parent).mkdir()
        for script in job_scripts("dispatch"):
            done = run(["sh", "-c", gha_expand(script, values)], env=env, cwd=workspace)
            assert done.returncode == 0, done.stderr
        shutil.copy(workspace / env["LEDGER"], artifacts)
    for script in job_scripts("merge"):
        done = run(["sh", "-c", script], env=base_env(None), cwd=artifacts.parent)
        assert done.returncode == 0, done.stderr
    assert sandbox.stats()["sessions"] == 30
    merged = artifacts.parent / "ledger.jsonl"
    assert len(created(read_ledger(merged))) == 30
    rerun = run(
        [
            str(BIN / "launcher"),
            "run",
            "manifests/",
            "--ledger",
            str(merged),
            "--run-key",
            "nightly-4242",
            "--format",
            "json",
        ],
        env=base_env(sandbox, DEVIN_API_KEY=API_KEY),
        cwd=tmp_path / "shard-1",
    )
    assert rerun.returncode == 0 and sandbox.stats()["requests"] == 30


# --- pre-commit and the container image (slow: they build virtual environments) ---------


def git(*args: str, cwd: Path) -> None:
    env = base_env(None, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid")
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=60)


@pytest.mark.slow
def test_pre_commit_try_repo_passes_good_and_fails_bad_manifests(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "manifests").mkdir(parents=True)
    shutil.copy(ROOT / "manifests" / "examples" / "hello.yaml", repo / "manifests" / "good.yaml")
    (repo / "manifests" / "bad.yaml").write_text(
        "version: 1\nsessions:\n  - name: x\n    prompt: hi\n    promt: hi\n"
    )
    (repo / "docs.yaml").write_text("not: [a, manifest\n")  # outside `files:`: not checked
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    env = base_env(None, PRE_COMMIT_HOME=str(tmp_path / "cache"), PRE_COMMIT_COLOR="never")
    (hook,) = yaml.safe_load(HOOKS.read_text())

    def try_repo(*files: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), hook["id"]]
        return run([*argv, "--files", *files], env=env, cwd=repo, timeout=600)

    good = try_repo("manifests/good.yaml", "docs.yaml")
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"^launcher validate\.+Passed$", good.stdout, re.M)
    bad = try_repo("manifests/good.yaml", "manifests/bad.yaml")
    assert bad.returncode == 1
    assert re.search(r"^launcher validate\.+Failed$", bad.stdout, re.M)
    assert "manifests/bad.yaml:5:5: error: sessions[0].promt: unknown key" in bad.stdout
    assert "good.yaml:" not in bad.stdout


def docker_context(tmp_path: Path) -> Path:
    """What `docker build` would send: the repository minus .dockerignore."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    context = tmp_path / "context"
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT).as_posix()
        if path.is_file() and not dockerignore_excludes(patterns, rel):
            (context / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, context / rel)
    return context


@pytest.mark.slow
def test_dockerfile_install_steps_give_a_working_launcher(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    """Each stage's pip step as written, with /wheels a temporary folder and the final
    stage's Python a fresh venv; then the ENTRYPOINT runs a batch onto the volume."""
    context = docker_context(tmp_path)
    wheels = tmp_path / "wheels"
    image = tmp_path / "image"
    # The final stage's Python, with pip as the image has it (uv makes it in a tenth of
    # the time of `python -m venv`); the RUN steps below then use pip as written.
    uv = Path(sys.executable).parent / "uv"
    make = [str(uv), "venv", "--quiet", "--seed", "--python", sys.executable, str(image)]
    if not uv.exists():
        make = [sys.executable, "-m", "venv", str(image)]
    subprocess.run(make, check=True, timeout=300)
    stage_python = [BIN, image / "bin"]  # the build stage's python, then the final one
    runs = [
        run_flags_and_command(args)[1]
        for op, args in dockerfile_instructions((ROOT / "Dockerfile").read_text())
        if op == "RUN" and "pip " in args
    ]
    assert len(runs) == 2
    for command, python_bin in zip(runs, stage_python, strict=True):
        env = base_env(None, PATH=f"{python_bin}{os.pathsep}{os.environ['PATH']}")
        done = run(
            ["sh", "-c", command.replace("/wheels", str(wheels))], env=env, cwd=context, timeout=600
        )
        assert done.returncode == 0, done.stderr
    assert not list(image.glob("lib/python*/site-packages/__editable__*launcher*"))
    entrypoint = image / "bin" / "launcher"
    volume = tmp_path / "volume"
    workdir = tmp_path / "manifests"
    write_manifest(workdir / "nightly.yaml", 5, secret=False)
    env = base_env(sandbox, DEVIN_API_KEY=API_KEY)
    done = run(
        [str(entrypoint), "run", ".", "--ledger", str(volume / "ledger.jsonl"), "--format", "json"],
        env=env,
        cwd=workdir,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["created"] == 5 and sandbox.stats()["sessions"] == 5
