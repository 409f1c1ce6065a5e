"""`make bench`: run every bench/bench_*.py in turn and print what each measured.

Each benchmark prints its figures side by side with a baseline measured in the same
script, as ratios: the machines are shared and noisy, absolute times mean little.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    scripts = sorted(here.glob("bench_*.py"))
    only = set(sys.argv[1:])
    failed = 0
    for script in scripts:
        if only and script.stem not in only and script.stem.removeprefix("bench_") not in only:
            continue
        print(f"\n=== {script.name}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(script)], cwd=here.parent)
        print(f"--- {script.name}: exit {code} in {time.monotonic() - started:.1f}s", flush=True)
        failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
