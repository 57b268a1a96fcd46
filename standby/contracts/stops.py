"""Input and progress of stopping a site's consecutive stop waves in one activity (activities/sites/stopping.py).

The waves run in order inside the activity, dependents first, each wave's apps at once. What the activity has done
(each wave's start and end, each app's outcome) is its heartbeat and its result: a retry after a crash stops
nothing twice, a workflow whose site worker is gone keeps what was stopped, and an abort learns what stopped.
"""

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from standby.contracts.sites import AppRef, SiteRef, StopResult


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
