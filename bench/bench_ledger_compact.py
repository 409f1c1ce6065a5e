"""`ledger compact` on a year of history: 1,000,000 events of 10,000 entries.

Each entry's year: its prompt edited twice (three dispatch keys, each created once) and
nightly runs that met a throttled API (a `sending` + `failed` 503 with retry_at per night
before each creation): 100 events per entry. Measured before and after `compact`, each as
a real `launcher` process: `ledger summary`, and a no-op re-run of the 10,000-entry
manifest against a sandbox (it must send 0); plus `compact` itself and the in-process fold.
Targets: after compact ≤ 1 s for summary and re-run (each the median of 5 runs); compact
≤ 10 s.
Run: .venv/bin/python bench/bench_ledger_compact.py [--entries 10000] [--dir PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from launcher.entry import Entry
from launcher.ledger.read import read_state
from launcher.manifest import check
from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.server import running_sandbox

EDITS = ("first draft", "second draft", "final")
FAILED_NIGHTS = (15, 15, 17)  # per key: 2 events a night, then sending + created: 100 in all


def manifest(path: Path, entries: int, version: str) -> Path:
    path.write_text(
        "version: 1\nsessions:\n  - name: task-${{ matrix.i }}\n    matrix:\n"
        f"      i: [{', '.join(map(str, range(entries)))}]\n"
        f"    prompt: Task ${{{{ matrix.i }}}}, {version}\n"
    )
    return path


def entries_of(path: Path) -> list[Entry]:
    result = check([str(path)])
    assert not result.diagnostics, result.diagnostics[:3]
    return result.entries


def write_history(ledger: Path, versions: list[list[Entry]]) -> int:
    """The year as JSON lines, written directly (what a year of runs would have left)."""
    lines: list[str] = []
    night = 0
    for version, nights in zip(versions, FAILED_NIGHTS, strict=True):
        for n in range(nights + 1):
            day = f"2026-{1 + night // 28 % 12:02d}-{1 + night % 28:02d}"
            run = f"{day.replace('-', '')}T020000Z-{night:06x}"
            last = n == nights
            for e in version:
                head = (
                    f'"entry":"{e.entry_id}","name":"{e.name}","key":"{e.key}",'
                    f'"run_id":"{run}","content":"{e.content}"'
                )
                ts = f"{day}T02:00:00.000Z"
                lines.append(f'{{"v":1,"ts":"{ts}","event":"sending",{head},"attempt":1}}')
                if last:
                    tail = f'"session_id":"devin-{e.key}","url":"https://x/{e.key}"'
                    lines.append(f'{{"v":1,"ts":"{ts}","event":"created",{head},{tail}}}')
                else:
                    tail = f'"error":"HTTP 503","status":503,"retry_at":"{day}T02:00:05.000Z"'
                    lines.append(f'{{"v":1,"ts":"{ts}","event":"failed",{head},{tail}}}')
            night += 1
    ledger.write_text("\n".join(lines) + "\n")
    return len(lines)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv[2:4]} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--repeat", type=int, default=5, help="runs after compact (median)")
    args = parser.parse_args()
    launcher = [sys.executable, "-m", "launcher"]
    env = {**os.environ, "DEVIN_API_KEY": "bench-not-a-secret"}
    with (
        tempfile.TemporaryDirectory(dir=args.dir) as tmp,
        running_sandbox(SandboxConfig(port=0, api_key=None)) as sandbox,
    ):
        folder = Path(tmp)
        started = time.perf_counter()
        versions = [entries_of(manifest(folder / "m.yaml", args.entries, v)) for v in EDITS]
        ledger = folder / "ledger.jsonl"
        events = write_history(ledger, versions)
        made = time.perf_counter() - started
        size = ledger.stat().st_size
        print(f"ledger: {events:,} events, {size / 1e6:.0f} MB, made in {made:.1f}s")
        run = [*launcher, "run", str(folder / "m.yaml"), "--ledger", str(ledger)]
        run += ["--base-url", sandbox.base_url, "--format", "json"]
        summary = [*launcher, "ledger", "summary", str(ledger), "--format", "json"]
        check_only = [*launcher, "validate", str(folder / "m.yaml")]

        def measure(times: int) -> tuple[float, float, float]:
            """The fold, summary and re-run: each the median of `times` runs."""
            folds, summaries, runs = [], [], []
            for _ in range(times):
                fold_started = time.perf_counter()
                read_state(ledger)
                folds.append(time.perf_counter() - fold_started)
                took_summary, out = timed(summary, env)
                assert json.loads(out)["counts"]["created"] == args.entries
                summaries.append(took_summary)
                took_run, out = timed(run, env)
                assert json.loads(out)["created"] == 0 and sandbox.stats()["requests"] == 0
                runs.append(took_run)
            spread.extend(max(r) / min(r) for r in (summaries, runs) if times > 1)
            return statistics.median(folds), statistics.median(summaries), statistics.median(runs)

        spread: list[float] = []
        before = measure(1)  # a million events: seconds each, one run is enough
        took_compact, out = timed([*launcher, "ledger", "compact", str(ledger)], env)
        print(out.strip())
        after = measure(args.repeat)
        took_validate, _ = timed(check_only, env)
        lines = sum(1 for _ in ledger.open("rb"))
    print(f"\n{'':<34}{'before':>10}{'after':>10}{'target':>10}")
    rows = [
        ("fold (in process, read_state)", before[0], after[0], None),
        ("ledger summary (process)", before[1], after[1], 1.0),
        ("no-op re-run, 0 sent (process)", before[2], after[2], 1.0),
    ]
    for label, b, a, target in rows:
        mark = "" if target is None else f"≤{target:.0f} s " + ("ok" if a <= target else "MISSED")
        print(f"{label:<34}{b:>9.2f}s{a:>9.2f}s  {mark}")
    ok = "ok" if took_compact <= 10 else "MISSED"
    print(f"{'compact (process)':<34}{took_compact:>9.2f}s{'':>10}  ≤10 s {ok}")
    print(f"lines: {events:,} -> {lines:,} (one per dispatch key: 3 per entry)")
    print(f"for scale: `launcher validate` of the manifest alone took {took_validate:.2f}s")
    if spread:
        print(
            f"varies: after compact, the slowest of {args.repeat} runs took up to "
            f"{max(spread):.2f}x the fastest (a shared machine's load; the medians are shown)"
        )


if __name__ == "__main__":
    main()
