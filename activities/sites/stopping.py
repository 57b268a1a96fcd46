"""A site's consecutive stop waves in one activity: wave after wave (dependents first), each wave's apps at once.

One activity instead of one per wave saves each wave's round trips (the activity's queue, the workflow task between
waves). The semantics a wave had as an activity of its own hold inside: each wave has the stop deadline from its
start, a failure that may pass is tried again until then, and what is not stopped by then is fenced with the reason;
once the site answered nothing in a wave, the later waves are fenced at once. Progress is heartbeated as waves end,
so a retry after a crash resumes where the first attempt was, and stops nothing twice.
"""

import asyncio
from datetime import UTC, datetime

from temporalio import activity

from activities.sites import batch
from activities.sites.base import PermanentProviderError, ProviderError
from activities.sites.registry import Providers
from standby.contracts.sites import AppRef, StopResult
from standby.contracts.stops import StopWaveInput, StopWavesInput, WaveRecord, WavesProgress, out_of_time, unreached

# A failure that may pass is tried again after 1 s, then twice as long each time, never longer than a minute apart:
# the activity retry policy's spacing (workflows/policies.PROVIDER) when each wave was an activity.
RETRY_FIRST, RETRY_MAX = 1.0, 60.0
# On an abort, the apps being stopped get this long to finish, so that few are left half-known; it stays under the
# activity's heartbeat timeout, as nothing heartbeats meanwhile.
ABORT_GRACE = 5.0
# What an app still being stopped when the abort's grace ran out did: the workflow counts it as down, as a rerun
# will stop it again.
INTERRUPTED = "interrupted (the abort came while it stopped)"


class Waves:
    """The waves of one activity attempt: run them, or on an abort, end after the apps being stopped."""

    def __init__(self, providers: Providers, inp: StopWavesInput, progress: WavesProgress):
        machines = {app.name: [m.name for m in app.machines] for wave in inp.waves for app in wave.apps}
        self.providers, self.inp = providers, inp
        self.progress = progress.expanded(inp.site.name, machines.__getitem__)
        # What `sent` has sorted out of progress.results so far: results only grow until the end.
        self._sorted_out = 0
        self._simple: list[str] = []
        self._other: list[StopResult] = []
        self._abort = asyncio.Event()
        self._current: list[AppRef] = []
        # Each app's result, by name, and how many of progress.results that holds: looked at once, not every wave.
        self._answers: dict[str, StopResult] = {}
        self._answered_up_to = 0
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> WavesProgress:
        for number, wave in enumerate(self.inp.waves):
            if self._abort.is_set():
                break
            record = self._begun(number)
            if record.ended is None:
                await self._wave(wave, record)
                record.ended = _now()
                activity.heartbeat(self.sent())
        return self._sorted()

    async def aborted(self) -> WavesProgress:
        """After the workflow cancelled the activity: no further wave; the apps being stopped get ABORT_GRACE."""
        self._abort.set()
        done, _ = await asyncio.wait([self.task], timeout=ABORT_GRACE)
        if not done:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            stopped = self._answered()
            self.progress.results += [_result(self.inp.site.name, app, INTERRUPTED) for app in self._current
                                      if app.name not in stopped]
        return self._sorted()

    def _begun(self, number: int) -> WaveRecord:
        """The wave's record: the one an earlier attempt heartbeated (its deadline runs from then), or a new one."""
        if number == len(self.progress.waves):
            self.progress.waves.append(WaveRecord(started=_now()))
        return self.progress.waves[number]

    async def _wave(self, wave: StopWaveInput, record: WaveRecord) -> None:
        progress, site = self.progress, self.inp.site.name
        done = self._answered()
        self._current = [app for app in wave.apps if app.name not in done]
        if progress.unreachable:
            progress.results += [_result(site, app, f"fenced (the site did not answer: {progress.unreachable})")
                                 for app in self._current]
            return
        errors = await self._until(self._current, record.started + self.inp.deadline)
        stopped = self._answered()
        progress.results += [_result(site, app, self._why(errors.get(app.name))) for app in self._current
                             if app.name not in stopped]
        answers = self._answered()
        results = [answers[app.name] for app in wave.apps if app.name in answers]
        if results and unreached(results):
            progress.unreachable = f"{wave.label} could not reach it"

    async def _until(self, apps: list[AppRef], deadline: datetime) -> dict[str, ProviderError]:
        """Stop the apps, again and again those that failed for a reason that may pass, until the deadline; the last
        error of each app that did not stop."""
        errors: dict[str, ProviderError] = {}
        pending, delay = apps, RETRY_FIRST
        while pending and (left := (deadline - _now()).total_seconds()) > 0:
            try:
                async with asyncio.timeout(left):
                    errors.update(await batch.stop_each(self.providers, self.inp.site, pending, self.progress.results))
            except TimeoutError:
                break
            stopped = self._answered()
            pending = [app for app in pending if app.name not in stopped
                       and not isinstance(errors.get(app.name), PermanentProviderError)]
            if pending:
                await asyncio.sleep(max(0.0, min(delay, (deadline - _now()).total_seconds())))
                delay = min(2 * delay, RETRY_MAX)
        return errors

    def _answered(self) -> dict[str, StopResult]:
        """Each app with a result so far, by name (results only grow until the end)."""
        fresh = self.progress.results[self._answered_up_to:]
        self._answered_up_to += len(fresh)
        self._answers.update((r.app, r) for r in fresh)
        return self._answers

    def _why(self, error: ProviderError | None) -> str:
        """The outcome of an app not stopped: the provider's own error (it names the site and where it tried), and
        the deadline when the stop ran out of it, worded as the workflow words it (out_of_time)."""
        if isinstance(error, PermanentProviderError):
            return f"fenced ({error})"
        return f"fenced ({out_of_time(self.inp.deadline, str(error) if error else '')})"

    def sent(self) -> WavesProgress:
        """The progress as heartbeated: the apps that simply stopped named only, when the input asks; each result is
        looked at once, not at every heartbeat."""
        if not self.inp.named_when_stopped:
            return self.progress
        fresh = self.progress.results[self._sorted_out:]
        self._sorted_out += len(fresh)
        named = WavesProgress(results=fresh).named()
        self._simple += named.stopped
        self._other += named.results
        return self.progress.model_copy(update={"results": self._other, "stopped": self._simple})

    def _sorted(self) -> WavesProgress:
        """The result: every app in the order of the waves."""
        order = {app.name: n for n, app in enumerate(a for wave in self.inp.waves for a in wave.apps)}
        self.progress.results.sort(key=lambda r: order[r.app])
        return self.progress.named() if self.inp.named_when_stopped else self.progress


def asked_to_cancel() -> bool:
    """Whether the workflow cancelled the activity (an abort), not the worker shutting down (a retry resumes)."""
    details = activity.cancellation_details()
    return details is not None and details.cancel_requested


def _result(site: str, app: AppRef, outcome: str) -> StopResult:
    return StopResult(app=app.name, site=site, outcome=dict.fromkeys((m.name for m in app.machines), outcome))


def _now() -> datetime:
    return datetime.now(UTC)
