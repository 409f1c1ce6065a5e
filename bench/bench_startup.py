"""CLI start-up: `launcher --version`, `validate` of one file and `plan` of the examples,
each against `python -c pass` (the interpreter's own floor), measured in the same run.

Targets on a quiet 2-core machine: --version <= 0.15 s, validate of one file <= 0.35 s
(medians of 5). What each command imports is held by tests/unit/cli/test_startup.py.
Varies: on a shared machine every figure moves together by up to 3x; the ratios to the
floor move by about 20%.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5
CASES = [
    ("python -c pass (floor)", ["-c", "pass"]),
    ("launcher --version", ["-m", "launcher", "--version"]),
    (
        "launcher validate hello.yaml",
        ["-m", "launcher", "validate", "manifests/examples/hello.yaml"],
    ),
    ("launcher plan manifests/examples", ["-m", "launcher", "plan", "manifests/examples"]),
]


TARGETS = {"launcher --version": 0.15, "launcher validate hello.yaml": 0.35}


def times_of(argv: list[str]) -> list[float]:
    env = {**os.environ, "EXAMPLE_TOKEN": "bench-not-a-secret"}
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    floor = None
    spread = []
    for label, argv in CASES:
        times = times_of(argv)
        took = statistics.median(times)
        floor = floor or took
        spread.append(max(times) / min(times))
        target = TARGETS.get(label)
        mark = (
            ""
            if target is None
            else f"  target <= {target} s: " + ("ok" if took <= target else "MISSED")
        )
        print(
            f"{label:<36} median of {RUNS}: {took:6.3f}s  ({took / floor:5.1f}x the floor)"
            f"  [{min(times):.3f}-{max(times):.3f}]{mark}"
        )
    print(f"varies: the slowest of {RUNS} runs took up to {max(spread):.2f}x the fastest here")


if __name__ == "__main__":
    main()
