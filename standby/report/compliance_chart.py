"""The compliance chart's geometry: a grid of runbooks by objective, each cell a bar against its objective.

A bar is the worst figure of its column (the app or machine furthest past its objective) as a share of
that objective: the tick in the middle of each cell is the objective, a bar past it is red, one short of
it green, and grey where the runbook states no objective or nothing was measured. Pure arithmetic.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from standby.report.chart import short_duration
from standby.report.compliance import ComplianceReport, Measure, RunbookCompliance

LABEL_WIDTH = 180
CELL_WIDTH = 150
MIN_BAR = 3.0
ROW = 46
HEADER = 40
PAD = 10
OK, BAD, NONE = "#2e9e4f", "#d62728", "#a0aec0"
COLUMNS = ("drill age", "RTO", "RPO", "lag now", "point age now")


@dataclass(frozen=True)
class Cell:
    """One objective of one runbook: its track, its bar and the figure it shows."""

    x: float
    track_width: float
    bar_width: float
    tick_x: float
    colour: str
    label: str
    title: str


@dataclass(frozen=True)
class Row:
    """One runbook."""

    name: str
    y: float
    colour: str
    verdict: str
    cells: list[Cell]


@dataclass(frozen=True)
class Grid:
    """Everything the SVG needs."""

    width: float
    height: float
    columns: list[tuple[float, str]]
    rows: list[Row] = field(default_factory=list)


def grid(report: ComplianceReport) -> Grid:
    """The chart of every runbook of the report, in its order."""
    columns = [(LABEL_WIDTH + index * CELL_WIDTH + CELL_WIDTH / 2, name) for index, name in enumerate(COLUMNS)]
    rows = [_row(r, HEADER + index * ROW) for index, r in enumerate(report.runbooks)]
    return Grid(width=LABEL_WIDTH + CELL_WIDTH * len(COLUMNS) + PAD, height=HEADER + ROW * len(rows) + PAD,
                columns=columns, rows=rows)


def _row(runbook: RunbookCompliance, y: float) -> Row:
    columns = _figures(runbook)
    cells = [_cell(LABEL_WIDTH + index * CELL_WIDTH, figures) for index, figures in enumerate(columns)]
    verdict = "inside every objective" if runbook.compliant else f"{len(runbook.outside)} outside"
    return Row(name=runbook.runbook, y=y, colour=OK if runbook.compliant else BAD, verdict=verdict, cells=cells)


def _figures(runbook: RunbookCompliance) -> list[list[tuple[str, Measure]]]:
    """Each column's figures, each named by what it measures."""
    operations = [e for e in (runbook.last_drill, runbook.last_failover) if e is not None]
    return [
        [("last drill", runbook.drill.age)] if runbook.drill else [("never drilled", Measure(inside=False))],
        [(f"{e.operation} {a.app}", a.rto) for e in operations for a in e.apps],
        [(f"{e.operation} {a.app}", a.rpo) for e in operations for a in e.apps],
        [(m.machine, m.lag) for m in runbook.machines],
        [(m.machine, m.point_age) for m in runbook.machines],
    ]


def _cell(x: float, figures: list[tuple[str, Measure]]) -> Cell:
    track = CELL_WIDTH - 2 * PAD
    worst = _worst(figures)
    title = "\n".join(f"{name}: {_figure(m)}" for name, m in figures) or "nothing to measure"
    if worst is None:
        return Cell(x + PAD, track, 0, x + PAD + track / 2, NONE, "—", title)
    name, figure = worst
    ratio = _ratio(figure)
    # A figure far inside its objective still shows a sliver, so no bar reads as "not measured".
    width = track if ratio is None else max(min(ratio, 2.0) / 2 * track, MIN_BAR)
    colour = {True: OK, False: BAD, None: NONE}[figure.inside]
    return Cell(x + PAD, track, round(width, 2), x + PAD + track / 2, colour, _label(name, figure), title)


def _label(name: str, figure: Measure) -> str:
    """`failover db: 4.2s / 1m` (figure / objective); a figure that is missing says so."""
    if figure.seconds is None:
        return name if figure.objective_seconds is None else f"{name}: not measured"
    return f"{name}: {_figure(figure)}"


def _worst(figures: Iterable[tuple[str, Measure]]) -> tuple[str, Measure] | None:
    """The figure furthest past (or nearest to) its objective; one with no objective only if none has one."""
    ranked = [(name, m) for name, m in figures if m.objective_seconds is not None or m.seconds is not None]
    if not ranked:
        return None
    return max(ranked, key=lambda f: (f[1].objective_seconds is not None, f[1].inside is False, _ratio(f[1]) or 0.0))


def _ratio(figure: Measure) -> float | None:
    """The figure as a share of its objective; None when either is missing."""
    if figure.seconds is None or not figure.objective_seconds:
        return None
    return figure.seconds / figure.objective_seconds


def _figure(figure: Measure) -> str:
    value = short_duration(figure.seconds) if figure.seconds is not None else "not measured"
    objective = f" / {short_duration(figure.objective_seconds)}" if figure.objective_seconds else ", no objective"
    return value + objective
