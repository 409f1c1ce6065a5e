"""Regenerate docs/assets/live-table.png: the live table of a real `launcher run --wait`
against the sandbox, on a real terminal (a tmux pane), as a PNG for the docs.

    .venv/bin/python scripts/live_table_png.py        # or: make screenshots

How: the sandbox runs on a loopback port; the launcher runs in a 100x26 tmux pane
(TERM=xterm-256color); the pane is captured with its colours (`tmux capture-pane -e`)
every 100 ms; the frame with the most going on (sessions working and settled at once) is
cut to its bottom (the live table and the two lines above it), read back by rich
(`Text.from_ansi`), exported as SVG (`Console.export_svg`), rendered to PNG by headless
Chromium and reduced to a 64-colour palette (Pillow). Nothing is drawn by hand: every
cell is what the launcher printed. Needs tmux, chromium and the docs extra (Pillow); not
part of `make test` (the docs test only checks that the image exists and is shown).
"""

from __future__ import annotations

import io
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from rich.console import Console
from rich.text import Text

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.server import running_sandbox

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "assets" / "live-table.png"
WIDTH, HEIGHT = 100, 26
MAX_BYTES = 100_000
REPOS = ["api", "web", "billing", "search", "auth", "mailer", "ledger", "gateway", "reports",
         "admin", "jobs", "cli", "docs", "mobile"]  # fmt: skip
MANIFEST = """\
version: 1
defaults:
  structured_output_schema:
    type: object
    required: [summary, tests_pass]
    properties:
      summary: {type: string}
      tests_pass: {type: boolean}
sessions:
  - name: bump-requests-${{ matrix.repo }}
    prompt: Upgrade requests to 2.32 in acme/${{ matrix.repo }} and open a pull request.
    matrix:
      repo: [%s]
"""
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                  "--no-first-run", "--force-device-scale-factor=1",
                  "--host-resolver-rules=MAP * ~NOTFOUND")  # fmt: skip


def _frames(command: str, env: dict[str, str]) -> list[str]:
    """The pane with its escape codes, every 100 ms until the command exits."""
    name = f"launcher-shot-{time.monotonic_ns()}"
    words = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    shell = f"env -i {words} sh -c {shlex.quote(command)}; echo EXIT=$?; sleep 30"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", str(WIDTH), "-y", str(HEIGHT), shell],
        check=True,
    )
    frames: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            capture = ["tmux", "capture-pane", "-e", "-p", "-t", name]
            frame = subprocess.run(capture, capture_output=True, text=True, check=True).stdout
            frames.append(frame)
            if "EXIT=" in frame:
                break
            time.sleep(0.1)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], check=False)
    return frames


def _busiest(frames: list[str]) -> str:
    """The frame showing the most sessions working and settled at once."""
    plain = [re.sub(r"\x1b\[[0-9;]*m", "", f) for f in frames]
    tables = [i for i, f in enumerate(plain) if re.search(r"^entry +status", f, re.M)]
    if not tables:
        raise SystemExit("no live table was drawn:\n" + plain[-1])

    def score(i: int) -> tuple[int, int]:
        f = plain[i]
        working, settled = f.count(" working "), f.count(" finished ") + f.count(" blocked ")
        return min(working, settled), working + settled

    return frames[max(tables, key=score)]


def _svg(frame: str) -> str:
    """The bottom of the frame (from two created sessions above the run's line) as SVG."""
    lines = [line for line in frame.rstrip("\n").split("\n") if "EXIT=" not in line]
    plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]
    run_line = next(
        i for i, line in enumerate(plain) if re.match(r"launcher: \d+/\d+ started", line)
    )
    lines = lines[max(0, run_line - 4) :]
    console = Console(record=True, width=WIDTH, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor")  # fmt: skip
    console.print(Text.from_ansi("\n".join(lines).rstrip()), crop=False, soft_wrap=True)
    return console.export_svg(title="launcher run --wait")


def _png(svg: str, scratch: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    box = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    if box is None:
        raise SystemExit("rich's SVG has no viewBox")
    width, height = (round(float(v)) for v in box.groups())
    page = scratch / "live-table.html"
    page.write_text(
        "<!doctype html><style>html,body{margin:0;background:#fff}</style>" + svg,
        encoding="utf-8",
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    shot = scratch / "shot.png"
    subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={scratch / 'profile'}",
         f"--window-size={width},{height}", f"--screenshot={shot}", page.as_uri()],
        check=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    # A terminal has few colours: a 64-colour palette keeps the text crisp at a fifth of
    # the size of Chromium's true-colour PNG.
    with Image.open(shot) as image:
        image.convert("RGB").quantize(colors=64, method=Image.Quantize.FASTOCTREE).save(
            OUT, optimize=True
        )


def main() -> int:
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is not installed (apt-get install tmux)")
    config = SandboxConfig(port=0, work_seconds=5, work_spread=3, blocked_share=0.15,
                           invalid_output_share=0.2, seed=11)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, running_sandbox(config) as sb:
        scratch = Path(tmp)
        manifest = scratch / "upgrades.yaml"
        manifest.write_text(MANIFEST % ", ".join(REPOS))
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TERM": "xterm-256color", "LANG": "C.UTF-8",
               "DEVIN_BASE_URL": sb.base_url, "DEVIN_API_KEY": "sandbox-key"}  # fmt: skip
        command = (
            f"cd {shlex.quote(tmp)} && {shlex.quote(sys.executable)} -m launcher run upgrades.yaml"
            " --ledger upgrades.jsonl --wait --max-active 8 --poll-interval 0.5"
        )
        frames = _frames(command, env)
        if "EXIT=" not in re.sub(r"\x1b\[[0-9;]*m", "", frames[-1]):
            raise SystemExit("the run did not end in time")
        _png(_svg(_busiest(frames)), scratch)
    size = OUT.stat().st_size
    print(f"wrote {OUT.relative_to(ROOT)} ({size:,} bytes, from {len(frames)} frames)")
    return 0 if size < MAX_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
