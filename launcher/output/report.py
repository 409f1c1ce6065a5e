"""The batch report rendered: one self-contained HTML page (jinja2 with autoescape on, the
page's own style and script allowed by their hashes in a Content-Security-Policy that
allows nothing else), or the same summary as Markdown for a CI job summary or a PR comment.

Every string in the report came from outside (manifest titles, server statuses, outputs,
errors): in HTML, jinja2 escapes all of it; in Markdown, `md_text` does."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any
from urllib.parse import quote

from launcher.follow.report import BatchReport, ReportRow

TIMELINE_ROWS = 400  # bars drawn; a bigger batch shows the longest-running ones
MD_ROWS = 300  # entries listed in Markdown: a GitHub job summary is at most 1 MiB


def csp_hash(text: str) -> str:
    """The CSP source that allows exactly this inline script or style."""
    digest = hashlib.sha256(text.encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


def _asset(name: str) -> str:
    return files("launcher.output").joinpath("templates", name).read_text(encoding="utf-8")


# --- filters: values to text; the template's autoescape does the escaping -------------


def when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds(value: float) -> str:
    value = round(value)
    if value < 60:
        return f"{value}s"
    if value < 3600:
        return f"{value // 60}m{value % 60:02d}s"
    return f"{value // 3600}h{value % 3600 // 60:02d}m"


def acus(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def css(status: str) -> str:
    """A status as a class name: the known ones as they are, anything else `other`."""
    return status if re.fullmatch(r"[a-z_]{1,20}", status) else "other"


def pretty(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
    return text if len(text) <= 4000 else text[:4000] + "\n…"


def clip(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_url(url: str) -> str:
    """`owner/repo#12` for a GitHub pull request URL, else the URL."""
    m = re.fullmatch(r"https://github\.com/([^/]+/[^/]+)/pull/(\d+)/?", url)
    return f"{m.group(1)}#{m.group(2)}" if m else url


# --- the timeline ---------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    status: str
    x: float
    y: float
    width: float
    open: bool  # not settled: drawn up to the time of the report
    tip: str


@dataclass(frozen=True)
class Timeline:
    bars: list[Bar]
    start: datetime | None = None
    end: datetime | None = None
    width: int = 1000
    left: int = 220
    top: int = 24

    @property
    def height(self) -> int:
        return self.top + 16 * len(self.bars) + 8

    @property
    def seconds(self) -> float:
        if self.start is None or self.end is None:
            return 0.0
        return (self.end - self.start).total_seconds()


def timeline_of(report: BatchReport) -> Timeline:
    span = report.span
    rows = [r for r in report.rows if r.created_at is not None]
    if span is None or not rows:
        return Timeline([])
    if len(rows) > TIMELINE_ROWS:
        rows = sorted(rows, key=lambda r: -(_end(r, report) - _start(r)).total_seconds())
        rows = sorted(rows[:TIMELINE_ROWS], key=_start)
    start, end = span
    total = max((end - start).total_seconds(), 1.0)
    base = Timeline([], start, end)
    scale = (base.width - base.left - 10) / total
    bars = []
    for i, row in enumerate(rows):
        began, ended = _start(row), _end(row, report)
        x = base.left + (began - start).total_seconds() * scale
        width = max(2.0, (ended - began).total_seconds() * scale)
        settled = f"settled {when(row.settled_at)}" if row.settled_at else "not settled"
        tip = f"{row.entry}: {row.status}, created {when(began)}, {settled}"
        label = row.name if len(row.name) <= 32 else row.name[:31] + "…"
        bars.append(
            Bar(
                label,
                row.status,
                round(x, 1),
                base.top + 16 * i,
                round(width, 1),
                not row.settled_at,
                tip,
            )
        )
    return Timeline(bars, start, end)


def _start(row: ReportRow) -> datetime:
    assert row.created_at is not None
    return row.created_at


def _end(row: ReportRow, report: BatchReport) -> datetime:
    return max(row.settled_at or report.generated_at, _start(row))


# --- HTML -----------------------------------------------------------------------------


def render_html(report: BatchReport, version: str) -> str:
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        autoescape=True,  # every {{ }} is escaped, attributes included
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters.update(
        when=when,
        seconds=seconds,
        acus=acus,
        css=css,
        pretty=pretty,
        short_url=short_url,
        clip=clip,
    )
    template = env.from_string(_asset("report.html.j2"))
    style, script = _asset("report.css"), _asset("report.js")
    return template.render(
        report=report,
        timeline=timeline_of(report),
        version=version,
        style=Markup(style),  # the package's own files, never data
        script=Markup(script),
        style_hash=csp_hash(style),
        script_hash=csp_hash(script),
    )


# --- Markdown -------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def md_text(text: Any, limit: int = 200) -> str:
    """Outside text made inert in GitHub Markdown: one line, HTML characters as entities
    (GitHub would render `<img>`), Markdown punctuation escaped, `@` unable to mention."""
    line = " ".join(str(text).split())
    if len(line) > limit:
        line = line[: limit - 1] + "…"
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    line = _MD_SPECIAL.sub(r"\\\1", line)
    return line.replace("@", "&#64;").replace(":", "&#58;")


def md_link(label: str, url: str | None) -> str:
    if url is None:
        return ""
    safe = quote(url, safe=":/?#@!$&'*+,;=%~-._")
    return f"[{md_text(label)}]({safe.replace('(', '%28').replace(')', '%29')})"


def render_markdown(report: BatchReport) -> str:
    total = len(report.rows)
    counts = " · ".join(f"{n} {md_text(s, 40)}" for s, n in report.counts.items())
    lines = [
        "## launcher report",
        "",
        f"**{report.ended_well} of {total} ended well** ({counts})"
        + (f" · {acus(report.acus)} ACUs used (where known)" if report.acus is not None else ""),
        "",
        "| status | entry | PR | output | ACUs | took | error |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for row in report.rows[:MD_ROWS]:
        valid = {None: "", True: "valid", False: "**invalid**"}[row.output_valid]
        why = row.error or ("" if row.ended_well else row.reason or "")
        cells = [
            md_text(row.status, 40),
            md_text(row.entry) + (f"<br>{md_text(row.title)}" if row.title else ""),
            md_link(short_url(row.pr_link), row.pr_link) if row.pr_link else "",
            valid,
            "" if row.acus is None else acus(row.acus),
            "" if row.duration is None else seconds(row.duration),
            md_text(why),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if total > MD_ROWS:
        lines += ["", f"… and {total - MD_ROWS} more entries (see the HTML report)."]
    return "\n".join(lines) + "\n"
