"""Reports of one operation: header, timeline chart, per-app RTO/RPO against targets, hooks, approvals.

Pure: `build` turns an operation's result (or its live progress) into a `Report`,
`render` turns a report into HTML, Markdown or JSON text; only `write` touches
the file system. Nothing here talks to Temporal or to a site.
"""

from standby.report.model import (
    Answer,
    AppMeasurement,
    AppRow,
    Failure,
    Measurements,
    Report,
    WorkflowInfo,
    build,
)
from standby.report.render import FORMATS, Format, format_of, render, render_compliance, write

__all__ = ["FORMATS", "Answer", "AppMeasurement", "AppRow", "Failure", "Format", "Measurements", "Report",
           "WorkflowInfo", "build", "format_of", "render", "render_compliance", "write"]
