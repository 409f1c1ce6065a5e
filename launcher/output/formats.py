"""The reporters by `--format` name: picked once per command."""

from __future__ import annotations

from launcher.output.json_report import JsonReporter
from launcher.output.reporter import Reporter, TextReporter

REPORTER_BY_NAME: dict[str, type[Reporter]] = {"text": TextReporter, "json": JsonReporter}
