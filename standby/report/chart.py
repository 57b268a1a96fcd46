"""The geometry of a report's timeline: one Gantt bar per step, a time axis, group bands; pure arithmetic.

The template draws what `timeline` computes, so the chart stays testable and
readable from 5 steps to a few hundred: rows shrink past 40 steps, long
names are shortened (the full name and detail are in each bar's tooltip).
"""

from dataclasses import dataclass, field
from datetime import datetime

from standby.contracts.operations import StepRecord

LABEL_WIDTH = 330
PLOT_WIDTH = 800
RIGHT_PAD = 70
AXIS_HEIGHT = 34
MIN_BAR = 2.0
NICE_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
              86400, 172800, 604800)
PALETTE = ("#4e79a7", "#59a14f", "#b07aa1", "#f28e2b", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#86bcb6",
           "#8cd17d", "#d4a6c8", "#499894")
UNGROUPED = "#6b7a8f"
STATUS_COLOURS = {"failed": "#d62728", "cancelled": "#a0a0a0", "refused": "#ff7f0e"}


@dataclass(frozen=True)
class Bar:
    """One step's bar and its row label."""

    x: float
    y: float
    width: float
    height: float
    seconds: float
    colour: str
    status: str
    group: str
    label: str
    title: str
    took: str
    took_x: float


@dataclass(frozen=True)
class Tick:
    """A line and label of the time axis."""

    x: float
    label: str


@dataclass(frozen=True)
class Band:
    """Rows of one priority group, shaded behind their bars."""

    y: float
    height: float
    name: str
    shaded: bool


@dataclass(frozen=True)
class Chart:
    """Everything the SVG needs, in SVG user units."""

    width: float
    height: float
    row: float
    font: float
    plot_left: float
    plot_width: float
    axis_y: float
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)


def timeline(steps: list[StepRecord], now: datetime) -> Chart:
    """Bars for the steps in start order; a step still running ends at `now`."""
    ordered = sorted(steps, key=lambda s: s.started)
    row = 22.0 if len(ordered) <= 40 else 14.0
    font = 12.0 if row > 14 else 10.0
    if not ordered:
        return Chart(LABEL_WIDTH + PLOT_WIDTH + RIGHT_PAD, AXIS_HEIGHT + row, row, font, LABEL_WIDTH, PLOT_WIDTH,
                     AXIS_HEIGHT)
    start = ordered[0].started
    span = _span(ordered, now)
    scale = PLOT_WIDTH / span
    colours = _colours(ordered)
    bars = [_bar(s, i, start, now, scale, row, font, colours) for i, s in enumerate(ordered)]
    return Chart(
        width=LABEL_WIDTH + PLOT_WIDTH + RIGHT_PAD, height=AXIS_HEIGHT + row * len(ordered) + 6, row=row, font=font,
        plot_left=LABEL_WIDTH, plot_width=PLOT_WIDTH, axis_y=AXIS_HEIGHT, bars=bars, ticks=_ticks(span, scale),
        bands=_bands(ordered, row, colours), legend=_legend(ordered, colours),
    )


def _span(steps: list[StepRecord], now: datetime) -> float:
    """Seconds from the first start to the last end, at least one."""
    last = max((s.ended or now) for s in steps)
    return max((last - steps[0].started).total_seconds(), 1.0)


def _colours(steps: list[StepRecord]) -> dict[str | None, str]:
    """A colour per group, in recovery order: app steps first, since stopping runs the groups in reverse."""
    groups = list(dict.fromkeys([*(s.group for s in steps if s.group and s.app), *(s.group for s in steps if s.group)]))
    return {None: UNGROUPED, **{g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}}


def _bar(step: StepRecord, index: int, start: datetime, now: datetime, scale: float, row: float, font: float,
         colours: dict[str | None, str]) -> Bar:
    seconds = max(((step.ended or now) - step.started).total_seconds(), 0.0)
    x = LABEL_WIDTH + (step.started - start).total_seconds() * scale
    width = max(seconds * scale, MIN_BAR)
    took = short_duration(seconds) + ("…" if step.ended is None else "")
    title = f"{step.name}\n{step.status}, {took}" + (f"\n{step.detail}" if step.detail else "")
    return Bar(x=round(x, 2), y=AXIS_HEIGHT + index * row + 3, width=round(width, 2), height=row - 6,
               seconds=seconds, colour=STATUS_COLOURS.get(step.status, colours.get(step.group, UNGROUPED)),
               status=step.status, group=step.group or "", label=_shorten(step.name, font), title=title, took=took,
               took_x=round(min(x + width + 4, LABEL_WIDTH + PLOT_WIDTH + RIGHT_PAD - 60), 2))


def _shorten(name: str, font: float) -> str:
    """The name cut to what fits the label column."""
    room = int((LABEL_WIDTH - 16) / (font * 0.56))
    return name if len(name) <= room else name[: room - 1] + "…"


def _ticks(span: float, scale: float) -> list[Tick]:
    step = next((n for n in NICE_STEPS if span / n <= 8), NICE_STEPS[-1])
    count = int(span // step) + 1
    return [Tick(x=round(LABEL_WIDTH + i * step * scale, 2), label=short_duration(i * step)) for i in range(count)]


def _bands(steps: list[StepRecord], row: float, colours: dict[str | None, str]) -> list[Band]:
    """Runs of consecutive rows of one group; every other group (in recovery order) is shaded."""
    order = [g for g in colours if g is not None]
    bands: list[Band] = []
    first = 0
    for index in range(1, len(steps) + 1):
        if index == len(steps) or steps[index].group != steps[first].group:
            name = steps[first].group
            bands.append(Band(y=AXIS_HEIGHT + first * row, height=(index - first) * row, name=name or "",
                              shaded=name is not None and order.index(name) % 2 == 0))
            first = index
    return bands


def _legend(steps: list[StepRecord], colours: dict[str | None, str]) -> list[tuple[str, str]]:
    entries = [(f"group {g}", c) for g, c in colours.items() if g is not None]
    if any(s.group is None for s in steps):
        entries.insert(0, ("operation", UNGROUPED))
    entries += [(status, colour) for status, colour in STATUS_COLOURS.items() if any(s.status == status for s in steps)]
    return entries


def short_duration(seconds: float | None) -> str:
    """`40ms`, `2.4s`, `12s`, `3m05s`, `2h10m`, `3d4h`; `—` when unknown."""
    if seconds is None:
        return "—"
    if 0 < seconds < 0.9995:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 10:
        return f"{seconds:.1f}s".replace(".0s", "s")
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    return f"{secs}s"
