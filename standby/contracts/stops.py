"""Input and progress of stopping a site's consecutive stop waves in one activity (activities/sites/stopping.py).

The waves run in order inside the activity, dependents first, each wave's apps at once. What the activity has done
(each wave's start and end, each app's outcome) is its heartbeat and its result: a retry after a crash stops
nothing twice, a workflow whose site worker is gone keeps what was stopped, and an abort learns what stopped.
"""

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from standby.contracts.sites import AppRef, SiteRef, StopResult
from standby.durations import format_duration


class StopWaveInput(BaseModel):
    """One wave: its plan label (named when the site did not answer it) and its apps, stopped at once."""

    label: str
    apps: list[AppRef]


class StopWavesInput(BaseModel):
    """Stop the waves at `site` one after the other, each within `deadline` of its start."""

    site: SiteRef
    waves: list[StopWaveInput]
    deadline: timedelta


class WaveRecord(BaseModel):
    """When a wave began and ended, by the site worker's clock: its record on the operation's timeline."""

    started: datetime
    ended: datetime | None = None


class WavesProgress(BaseModel):
    """What the waves' activity has done so far: its heartbeat details, and at the end its result."""

    results: list[StopResult] = []
    waves: list[WaveRecord] = Field([], description="one per wave begun, in order")
    unreachable: str = Field("", description="why the waves after it were fenced at once: the site answered "
                             "nothing in a wave")


def out_of_time(deadline: timedelta, reason: str) -> str:
    """Why an app was fenced when its stop ran out of the deadline: the last try's error (it names the site and where
    it tried), or that the site did not answer."""
    return f"not stopped within the stop deadline of {format_duration(deadline)}: " + (
        reason or "the site did not answer in time")


def unreached(results: list[StopResult]) -> bool:
    """None of the machines could be stopped within the deadline (those the provider cannot stop by design aside):
    the site is gone for this operation, and its later waves fence at once instead of waiting out the deadline
    again, wave after wave."""
    return all(o.startswith("fenced") and m not in r.unstoppable for r in results for m, o in r.outcome.items())
