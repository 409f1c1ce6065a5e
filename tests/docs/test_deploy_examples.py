"""The "where teams run it" examples, read as their engines would read them.

Dockerfile, Kubernetes objects, systemd units, the GitHub workflow and the pre-commit hook
parse and have the properties the guides promise, and every `launcher` command they
contain uses only commands and options that `launcher ... --help` accepts. Running those
commands against the sandbox is in tests/e2e/test_deploy_runs.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploykit import (
    CRONJOB,
    HOOKS,
    INDEXED,
    ROOT,
    SERVICE,
    TIMER,
    WORKFLOW,
    cli_problems,
    dockerfile_instructions,
    dockerignore_excludes,
    gha_expand,
    launcher_invocations,
    objects,
    pending_reason,
    pod_spec,
    systemd_exec_argv,
    systemd_unit,
    workflow,
)


def example_invocations() -> list[tuple[str, list[str]]]:
    """(where, argv) of every launcher command in every example."""
    found: list[tuple[str, list[str]]] = []
    docker = dict(dockerfile_instructions((ROOT / "Dockerfile").read_text()))
    found.append(("Dockerfile", [*json.loads(docker["ENTRYPOINT"]), *json.loads(docker["CMD"])]))
    cron = pod_spec(objects(CRONJOB)["CronJob"])["containers"][0]
    found.append(("cronjob.yaml", ["launcher", *cron["args"]]))
    job = pod_spec(objects(INDEXED)["Job"])["containers"][0]
    found += [("indexed-job.yaml", argv) for argv in launcher_invocations(job["args"][0])]
    script = systemd_exec_argv(systemd_unit(SERVICE.read_text())["Service"]["ExecStart"][0])[2]
    found += [("launcher.service", argv) for argv in launcher_invocations(script)]
    for name, job_def in workflow()["jobs"].items():
        for step in job_def["steps"]:
            for argv in launcher_invocations(gha_expand(step.get("run", ""), {})):
                found.append((f"launcher.yml:{name}", argv))
    hook = yaml.safe_load(HOOKS.read_text())[0]
    found.append((".pre-commit-hooks.yaml", [*hook["entry"].split(), "manifests/a.yaml"]))
    return found


def _case(where: str, argv: list[str]) -> Any:
    reason = pending_reason(argv)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(argv, id=f"{where}:{' '.join(argv[1:3])}", marks=marks)


@pytest.mark.parametrize("argv", [_case(w, a) for w, a in example_invocations()])
@pytest.mark.slow
def test_example_commands_use_only_what_launcher_accepts(argv: list[str]) -> None:
    assert cli_problems(argv) == []


@pytest.mark.slow
def test_the_command_check_catches_what_launcher_rejects() -> None:
    assert cli_problems(["launcher", "run", "m/", "--ledger", "x", "--format", "json"]) == []
    assert cli_problems(["launcher", "ledger", "summary", "x.jsonl"]) == []
    assert cli_problems(["launcher", "run", "m/", "--ledgr", "x"]) == [
        "`launcher run` has no option --ledgr"
    ]
    assert cli_problems(["launcher", "validate", "--format", "yaml", "m/"]) == [
        "--format 'yaml' is not one of ['github', 'json', 'text']"
    ]
    assert cli_problems(["launcher", "ledger", "rewind"]) == [
        "`launcher ledger rewind` is not a command"
    ]


def test_every_yaml_example_parses() -> None:
    for path in [CRONJOB, INDEXED, WORKFLOW, HOOKS]:
        assert list(yaml.safe_load_all(path.read_text())), path


# --- Dockerfile ------------------------------------------------------------------------


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile_instructions((ROOT / "Dockerfile").read_text())
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def test_dockerfile_makes_a_small_non_root_image_running_launcher() -> None:
    stage = final_stage()
    ops = dict(stage)
    assert re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim@\$\{PYTHON_DIGEST\}", ops["FROM"])
    user = ops["USER"].split(":")
    assert all(part.isdigit() and int(part) > 0 for part in user), "numeric, not root"
    assert json.loads(ops["ENTRYPOINT"]) == ["launcher"]
    assert "/var/lib/launcher" in json.loads(ops["VOLUME"])
    assert ops["WORKDIR"] == "/manifests"
    # the volume's folder belongs to that user, or the ledger cannot be written
    assert any(f"chown {ops['USER']} /var/lib/launcher" in a for op, a in stage if op == "RUN")
    # nothing from the build stage but the wheels, mounted for one step
    assert not [a for op, a in stage if op in {"COPY", "ADD"}]
    installs = [a for op, a in stage if op == "RUN" and "pip install" in a]
    assert len(installs) == 1 and "--no-cache-dir" in installs[0] and "--no-index" in installs[0]


def test_dockerfile_bakes_in_no_secrets() -> None:
    steps = dockerfile_instructions((ROOT / "Dockerfile").read_text())
    for op, args in steps:
        if op in {"ENV", "ARG"}:
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split()[0]]
            assert not [n for n in names if re.search(r"KEY|TOKEN|SECRET|PASSW", n, re.I)], args
        assert "apk_" not in args
        if op in {"COPY", "ADD"}:
            assert not re.search(r"\.env|\.jsonl|\.git\b", args), args


def test_dockerignore_sends_only_what_the_image_copies() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for op, args in dockerfile_instructions((ROOT / "Dockerfile").read_text()):
        if op == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert not dockerignore_excludes(patterns, source.rstrip("/")), source
    for kept in ["launcher/cli.py", "launcher/sandbox/app.py", "schemas/manifest.schema.json"]:
        assert not dockerignore_excludes(patterns, kept)
    for left_out in [
        ".git/config",
        ".venv/bin/python",
        "tests/support/runkit.py",
        ".env",
        "launcher/.env",
        "launcher-ledger.jsonl",
        "state/nightly.jsonl",
        "launcher/__pycache__/cli.cpython-311.pyc",
        "manifests/examples/hello.yaml",
    ]:
        assert dockerignore_excludes(patterns, left_out), left_out


# --- Kubernetes -------------------------------------------------------------------------


def assert_pod_is_locked_down(pod: dict[str, Any], claim: dict[str, Any]) -> dict[str, Any]:
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    container: dict[str, Any] = pod["containers"][0]
    assert len(pod["containers"]) == 1
    ctx = container["securityContext"]
    assert ctx["allowPrivilegeEscalation"] is False and ctx["capabilities"]["drop"] == ["ALL"]
    env = {e["name"]: e for e in container["env"]}
    key_ref = env["DEVIN_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert key_ref["name"] and key_ref["key"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    state = volumes[mounts["/var/lib/launcher"]]
    assert state["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert container["image"].split(":")[-1] not in {"latest", container["image"]}, "pin a tag"
    return container


def test_cronjob_runs_one_at_a_time_with_the_ledger_on_a_claim() -> None:
    objs = objects(CRONJOB)
    cron = objs["CronJob"]
    assert cron["apiVersion"] == "batch/v1"
    assert objs["PersistentVolumeClaim"]["apiVersion"] == "v1"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert len(cron["spec"]["schedule"].split()) == 5
    container = assert_pod_is_locked_down(pod_spec(cron), objs["PersistentVolumeClaim"])
    args = container["args"]
    assert args[0] == "run"
    assert args[args.index("--ledger") + 1].startswith("/var/lib/launcher/")
    assert args[args.index("--run-key") + 1] == "$(RUN_KEY)"
    env = {e["name"]: e for e in container["env"]}
    assert env["RUN_KEY"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['job-name']"


def test_indexed_job_runs_shard_index_plus_one_of_n_per_pod() -> None:
    objs = objects(INDEXED)
    job = objs["Job"]
    assert job["apiVersion"] == "batch/v1"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    container = assert_pod_is_locked_down(pod_spec(job), objs["PersistentVolumeClaim"])
    # pods of an Indexed Job may run on different nodes: each writes its own ledger
    assert objs["PersistentVolumeClaim"]["spec"]["accessModes"] == ["ReadWriteMany"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert int(env["SHARDS"]) == spec["completions"] == spec["parallelism"]
    assert container["command"] == ["sh", "-c"], "the shell does the arithmetic"
    (argv,) = launcher_invocations(container["args"][0])
    assert argv[argv.index("--shard") + 1] == "$((JOB_COMPLETION_INDEX + 1))/$SHARDS"
    assert "$((JOB_COMPLETION_INDEX + 1))" in argv[argv.index("--ledger") + 1]


# --- systemd ----------------------------------------------------------------------------


def test_systemd_service_runs_launcher_hardened_with_the_key_from_a_file() -> None:
    unit = systemd_unit(SERVICE.read_text())
    service = {k: v[-1] for k, v in unit["Service"].items()}
    assert service["Type"] == "oneshot"
    assert service["EnvironmentFile"].startswith("/etc/")
    assert "DEVIN_API_KEY" not in SERVICE.read_text().split("[Service]")[1]
    assert service["StateDirectory"] == "launcher"
    argv = systemd_exec_argv(service["ExecStart"])
    assert argv[:2] == ["/bin/sh", "-c"]
    (launcher,) = launcher_invocations(argv[2])
    assert launcher[1] == "run"
    assert launcher[launcher.index("--run-key") + 1] == "$(date -u +%F)"
    assert launcher[launcher.index("--ledger") + 1].startswith("${STATE_DIRECTORY}/")
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "DynamicUser": "yes",
    }.items():
        assert service[key] == value, key
    assert "network-online.target" in unit["Unit"]["After"][0]


def test_systemd_timer_is_persistent_and_starts_the_service() -> None:
    unit = systemd_unit(TIMER.read_text())
    timer = {k: v[-1] for k, v in unit["Timer"].items()}
    assert timer["Persistent"] == "true"
    assert timer["Unit"] == SERVICE.name
    assert timer["OnCalendar"]
    assert unit["Install"]["WantedBy"] == ["timers.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    for unit in [SERVICE, TIMER]:
        shutil.copy(unit, tmp_path / unit.name)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", SERVICE.name, TIMER.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    calendar = subprocess.run(
        ["systemd-analyze", "calendar", systemd_unit(TIMER.read_text())["Timer"]["OnCalendar"][0]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert calendar.returncode == 0, calendar.stderr


# --- GitHub Actions and pre-commit ------------------------------------------------------


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if s.get("uses", "").startswith(action + "@")]


def test_workflow_validates_pull_requests_and_dispatches_shards_then_merges() -> None:
    doc = workflow()
    assert {"pull_request", "schedule", "workflow_dispatch"} <= set(doc["on"])
    jobs = doc["jobs"]
    assert set(jobs) == {"validate", "dispatch", "merge"}
    assert "pull_request" in jobs["validate"]["if"]
    (validate,) = [
        a for s in jobs["validate"]["steps"] for a in launcher_invocations(s.get("run", ""))
    ]
    assert validate[:4] == ["launcher", "validate", "--format", "github"]

    dispatch = jobs["dispatch"]
    shards = dispatch["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, len(shards) + 1)) and dispatch["env"]["SHARDS"] == len(shards)
    assert dispatch["strategy"]["fail-fast"] is False, "one failing shard must not cancel the rest"
    (run_step,) = [s for s in dispatch["steps"] if "launcher run" in s.get("run", "")]
    assert run_step["env"]["DEVIN_API_KEY"] == "${{ secrets.DEVIN_API_KEY }}"
    (argv,) = launcher_invocations(run_step["run"])
    assert argv[argv.index("--shard") + 1] == "${{ matrix.shard }}/$SHARDS"
    assert "${{ matrix.shard }}" in dispatch["env"]["LEDGER"]
    (upload,) = steps_using(dispatch, "actions/upload-artifact")
    assert upload["if"] == "always()", "keep the ledger of a shard that failed"
    assert upload["with"]["path"] == "${{ env.LEDGER }}"

    merge = jobs["merge"]
    assert merge["needs"] == "dispatch" and "always()" in merge["if"]
    (download,) = steps_using(merge, "actions/download-artifact")
    prefix = download["with"]["pattern"].rstrip("*")
    assert gha_expand(upload["with"]["name"], {"matrix.shard": "2"}).startswith(prefix)
    assert download["with"]["merge-multiple"] is True
    merges = [a for s in merge["steps"] for a in launcher_invocations(s.get("run", ""))]
    assert merges[0][:3] == ["launcher", "ledger", "merge"] and "--output" in merges[0]


def test_pre_commit_hook_validates_manifest_yaml() -> None:
    (hook,) = yaml.safe_load(HOOKS.read_text())
    assert hook["id"] == "launcher-validate"
    assert hook["entry"] == "launcher validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    assert hook["types"] == ["yaml"]
    files = re.compile(hook["files"])
    assert files.search("manifests/nightly/a.yaml") and files.search("ops/manifests/b.yml")
    assert not files.search("docs/mkdocs.yaml") and not files.search("mymanifests/c.yaml")


def test_the_guides_have_a_section_for_each_example() -> None:
    for page, heading, path in [
        ("deployment", "Docker", "docker build -t launcher ."),
        ("deployment", "Kubernetes CronJob", "deploy/kubernetes/cronjob.yaml"),
        ("deployment", "Kubernetes Indexed Job", "deploy/kubernetes/indexed-job.yaml"),
        ("deployment", "systemd timer", "deploy/systemd/"),
        ("ci", "GitHub Actions", "deploy/github/launcher.yml"),
        ("pre-commit", "pre-commit", "launcher-validate"),
    ]:
        text = (ROOT / "docs" / "guides" / f"{page}.md").read_text()
        part = re.split(rf"^#+ {re.escape(heading)}$", text, maxsplit=1, flags=re.M)[1]
        part = re.split(r"^## ", part, maxsplit=1, flags=re.M)[0]
        assert path in part, (page, heading)


def test_the_examples_keep_no_credential_they_do_not_need() -> None:
    """Pods get no service-account token, the workflow's checkout leaves no GitHub token
    beside DEVIN_API_KEY, actions are pinned to commit SHAs, the base image to a digest,
    and the final image has no pip to install anything with."""
    for path, kind in ((CRONJOB, "CronJob"), (INDEXED, "Job")):
        assert pod_spec(objects(path)[kind])["automountServiceAccountToken"] is False, path
    steps = [step for job in workflow()["jobs"].values() for step in job["steps"]]
    uses = [step["uses"] for step in steps if "uses" in step]
    assert uses and all(re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", u) for u in uses), uses
    checkouts = [step for step in steps if step.get("uses", "").startswith("actions/checkout@")]
    assert checkouts and all(s["with"]["persist-credentials"] is False for s in checkouts)
    text = (ROOT / "Dockerfile").read_text()
    digest = re.search(r"^ARG PYTHON_DIGEST=(sha256:[0-9a-f]{64})$", text, re.MULTILINE)
    assert digest, "the base image is pinned by digest"
    froms = [a for op, a in dockerfile_instructions(text) if op == "FROM"]
    assert froms and all("@${PYTHON_DIGEST}" in f for f in froms)
    final = " ".join(a for op, a in final_stage() if op == "RUN")
    assert "pip uninstall --yes pip" in final
