"""Input and progress of stopping a site's consecutive stop waves in one activity (activities/sites/stopping.py).

The waves run in order inside the activity, dependents first, each wave's apps at once. What the activity has done
(each wave's start and end, each app's outcome) is its heartbeat and its result: a retry after a crash stops
nothing twice, a workflow whose site worker is gone keeps what was stopped, and an abort learns what stopped.
"""

from collections.abc import Callable, Iterable
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
    named_when_stopped: bool = Field(False, description="the progress names the apps that simply stopped "
                                     "(WavesProgress.stopped) instead of giving each its result: False from a "
                                     "workflow that reads only results")


class WaveRecord(BaseModel):
    """When a wave began and ended, by the site worker's clock: its record on the operation's timeline."""

    started: datetime
    ended: datetime | None = None


class WavesProgress(BaseModel):
    """What the waves' activity has done so far: its heartbeat details, and at the end its result."""

    results: list[StopResult] = []
    stopped: list[str] = Field([], description="apps each of whose machines stopped and nothing more, named instead "
                               "of given a result (`named`): 10,000 results took a workflow task 0.3 s to decode")
    waves: list[WaveRecord] = Field([], description="one per wave begun, in order")
    unreachable: str = Field("", description="why the waves after it were fenced at once: the site answered "
                             "nothing in a wave")

    def apps(self) -> list[str]:
        """Every app with an outcome: those with a result, then those named as stopped."""
        return [r.app for r in self.results] + self.stopped

    def named(self) -> "WavesProgress":
        """This progress with each app that simply stopped in `stopped` instead of `results`."""
        simple: list[StopResult] = []
        other: list[StopResult] = []
        for result in self.results:
            (simple if _simply_stopped(result) else other).append(result)
        if not simple:
            return self
        return self.model_copy(update={"results": other, "stopped": self.stopped + [r.app for r in simple]})

    def expanded(self, site: str, machines: Callable[[str], Iterable[str]]) -> "WavesProgress":
        """Every app with its result: those in `stopped` back as results whose `machines(app)` each stopped at `site`.
        """
        if not self.stopped:
            return self
        # Every field given: model_construct resolving a default factory inspects its signature, each time.
        back = [StopResult.model_construct(app=app, site=site, outcome=dict.fromkeys(machines(app), "stopped"),
                                           outside={}, provider="", unstoppable=[]) for app in self.stopped]
        return self.model_copy(update={"results": self.results + back, "stopped": []})


def _simply_stopped(result: StopResult) -> bool:
    """Every machine stopped, by the site's one provider, with nothing else to say (outside processes, unstoppable
    machines): all that `expanded` gives back."""
    return (all(o == "stopped" for o in result.outcome.values()) and not result.outside and not result.unstoppable
            and not result.provider)


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
