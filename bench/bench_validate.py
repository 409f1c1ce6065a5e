"""Benchmark: `launcher validate` and `launcher plan --format json` on a manifest whose
matrix expands to 10,000 entries, against a plain `yaml.safe_load` of the same file.

Each command runs in its own subprocess; wall time is the best of a few runs and peak
memory is that child's maximum RSS. Targets (2-core machine): validate ≤ 3 s,
plan ≤ 6 s, ≤ 400 MiB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 3
TARGETS = {"validate": 3.0, "plan --format json": 6.0}
MAX_MIB = 400

MANIFEST = """\
# 100 repos × 100 checks = 10,000 entries
version: 1
x-shared:
  result: &result
    type: object
    properties:
      pr_url: {type: string}
      passed: {type: boolean}
    required: [pr_url]
defaults:
  idempotent: true
  max_acu_limit: 4
  tags: [bench]
  structured_output_schema: *result
sessions:
  - name: check-${{ matrix.repo }}-${{ matrix.check }}
    matrix:
      repo: [%s]
      check: [%s]
    prompt: |
      In acme/${{ matrix.repo }}, run check ${{ matrix.check }} and open a PR with the fix.
    title: ${{ matrix.check }} on ${{ matrix.repo }}
    tags: [bench, "repo:${{ matrix.repo }}", "check:${{ matrix.check }}"]
    session_secrets:
      - key: TOKEN
        value: ${{ env.BENCH_TOKEN }}
"""


def measure(argv: list[str]) -> tuple[float, float]:
    """(best wall seconds, peak RSS MiB) of running argv in a fresh child process."""
    best = float("inf")
    peak = 0.0
    for _ in range(RUNS):
        # A fresh interpreter for each run, so ru_maxrss of RUSAGE_CHILDREN (the max over
        # children so far) is read through a wrapper that reports only its own child.
        wrapper = (
            "import resource, subprocess, sys, time;"
            "t = time.perf_counter();"
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL);"
            "d = time.perf_counter() - t;"
            "print(d, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)"
        )
        out = subprocess.run(
            [sys.executable, "-c", wrapper, *argv], capture_output=True, text=True, check=True
        ).stdout.split()
        if out[2] != "0":
            raise SystemExit(f"{argv} exited {out[2]}")
        best = min(best, float(out[0]))
        peak = max(peak, int(out[1]) / 1024)  # Linux reports KiB
    return best, peak


def main() -> int:
    repos = ", ".join(f"repo{i:03d}" for i in range(100))
    checks = ", ".join(f"c{i:03d}" for i in range(100))
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "bench.yaml"
        manifest.write_text(MANIFEST % (repos, checks), encoding="utf-8")
        ledger = Path(tmp) / "ledger.jsonl"
        py = sys.executable
        baseline = measure(
            [py, "-c", f"import yaml; yaml.load(open({str(manifest)!r}), Loader=yaml.CSafeLoader)"]
        )
        results = {
            "validate": measure([py, "-m", "launcher", "validate", str(manifest)]),
            "plan --format json": measure(
                [
                    py,
                    "-m",
                    "launcher",
                    "plan",
                    str(manifest),
                    "--format",
                    "json",
                    "--ledger",
                    str(ledger),
                ]
            ),
        }
    print("10,000 entries (100×100 matrix), best of", RUNS, "runs, on", os.cpu_count(), "CPUs")
    print(f"{'command':<22} {'wall s':>8} {'peak MiB':>9} {'× baseline':>11} {'target':>8}")
    print(
        f"{'yaml.load (baseline)':<22} {baseline[0]:>8.3f} {baseline[1]:>9.1f} {'1.0':>11} {'':>8}"
    )
    ok = True
    for name, (wall, mib) in results.items():
        target = TARGETS[name]
        within = wall <= target and mib <= MAX_MIB
        ok = ok and within
        ratio = wall / baseline[0] if baseline[0] else float("inf")
        print(
            f"{name:<22} {wall:>8.3f} {mib:>9.1f} {ratio:>11.1f} "
            f"{f'≤ {target:g}s':>8} {'ok' if within else 'OVER'}"
        )
    return 0 if billion_laughs() and ok else 1


def billion_laughs() -> bool:
    """A 9^9-node alias bomb must fail fast (target < 2 s), beside a tiny valid file."""
    bomb = "version: 1\nx-lol:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        bomb += f"  {name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    bomb += "sessions:\n  - name: a\n    prompt: *i\n"
    tiny = "version: 1\nsessions:\n  - name: a\n    prompt: hello\n"
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, text, code in (("tiny valid", tiny, 0), ("billion laughs", bomb, 2)):
            path = Path(tmp) / f"{label.replace(' ', '-')}.yaml"
            path.write_text(text, encoding="utf-8")
            best = float("inf")
            for _ in range(RUNS):
                t0 = time.perf_counter()
                r = subprocess.run(
                    [sys.executable, "-m", "launcher", "validate", str(path)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                best = min(best, time.perf_counter() - t0)
                assert r.returncode == code, (label, r.returncode, r.stdout)
            times[label] = best
            if code:
                message = r.stdout.strip().splitlines()[0]
    print(
        f"billion laughs: launcher validate {times['billion laughs']:.3f}s "
        f"(tiny valid file {times['tiny valid']:.3f}s; target < 2 s): {message}"
    )
    return times["billion laughs"] < 2


if __name__ == "__main__":
    raise SystemExit(main())
