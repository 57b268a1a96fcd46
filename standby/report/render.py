"""A report as self-contained HTML (Jinja2, with an SVG timeline), Markdown or JSON; only `write` touches files."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from jinja2 import Environment, PackageLoader, StrictUndefined

from standby.report import chart, compliance_chart, evidence
from standby.report.compliance import ComplianceReport
from standby.report.model import Report

Format = Literal["html", "md", "json"]
FORMATS: tuple[Format, ...] = ("html", "md", "json")


def render(report: Report, fmt: Format = "html") -> str:
    """The report as HTML (self-contained), Markdown or JSON text."""
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format '{fmt}'; choose one of {', '.join(FORMATS)}")
    timeline = chart.timeline(report.steps, report.ended or report.generated)
    return _environment(fmt == "html").get_template(f"report.{fmt}.j2").render(r=report, chart=timeline)


def render_compliance(report: ComplianceReport, fmt: Format = "html") -> str:
    """The compliance of every runbook as HTML (self-contained, with its chart) or JSON."""
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    if fmt != "html":
        raise ValueError(f"compliance is written as html or json, not '{fmt}'")
    template = _environment(True).get_template("compliance.html.j2")
    return template.render(r=report, g=compliance_chart.grid(report))


def write(report: Report, path: Path, fmt: Format | None = None) -> Path:
    """Render the report into a file (format from the suffix unless given); the file's path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report, fmt or format_of(path)), encoding="utf-8")
    return path


def format_of(path: Path | None, default: Format = "html") -> Format:
    """The format a file name asks for: .md, .json, otherwise HTML."""
    suffix = path.suffix.lower().lstrip(".") if path else ""
    known: dict[str, Format] = {"md": "md", "markdown": "md", "json": "json", "html": "html", "htm": "html"}
    return known.get(suffix, default)


def _environment(html: bool) -> Environment:
    env = Environment(loader=PackageLoader("standby.report", "templates"), autoescape=html, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(took=chart.short_duration, when=_when, clock=_clock, cell=_cell, fence=_fence,
                       verdict=_verdict, headline=evidence.headline, evidence_rows=evidence.rows)
    return env


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def _clock(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%S") if moment else "—"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "missed", None: ""}[met]


def _cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|") if text not in (None, "") else "—"


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in the text."""
    longest, run = 0, 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)
