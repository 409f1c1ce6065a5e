"""`python -m launcher` runs the command line."""

from launcher.cli import entry

raise SystemExit(entry())
