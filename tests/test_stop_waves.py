"""A site's stop waves in one activity: a retry after a crash resumes from the heartbeat and stops nothing twice, and
a site that answered nothing in a wave has its later waves fenced at once.

The activity runs in the SDK's ActivityEnvironment on the benchmark provider (bench/), which counts its calls; the
real providers' stops are tested against their servers, and an abort mid-stop on the dev server
(tests/test_owner.py).
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.sites.activities import SiteActivities
from activities.sites.base import ProviderError
from activities.sites.local import PROVIDER as LOCAL
from activities.sites.registry import Providers
from bench.provider import BenchSiteProvider, Counter, Timings
from standby.contracts.sites import AppInput, StopResult, app_ref, machine_index, site_ref
from standby.contracts.stops import StopWaveInput, StopWavesInput, WaveRecord, WavesProgress
from standby.plan import build
from standby.plan_steps import StopWaves
from standby.runbook import Runbook

SHOP = Runbook.model_validate({
    "runbook": "waves", "sites": {"primary": {"provider": "local"}, "dr": {"provider": "local"}},
    "protection": {"source": "primary", "target": "dr", "stop_deadline": "1s"},
    "machines": {"db1": {}, "app1": {}, "web1": {}},
    "apps": {"db": {"machines": ["db1"], "start": ["true"]},
             "api": {"machines": ["app1"], "depends_on": ["db"], "start": ["true"]},
             "web": {"machines": ["web1"], "depends_on": ["api"], "start": ["true"]}},
    "groups": [{"name": "all", "apps": ["db", "api", "web"]}],
})


class Unreachable(BenchSiteProvider):
    """A site whose every stop fails as a site out of reach does."""

    async def stop_app(self, inp: AppInput) -> StopResult:
        self.counter.add("stop_app")
        raise ProviderError(f"connection refused [site={self.site.name}]")


def waves_input() -> StopWavesInput:
    """The failover's stop step as the workflow sends it: web, then api, then db."""
    step = next(s for s in build(SHOP, "failover").steps if isinstance(s, StopWaves))
    index = machine_index(SHOP)
    return StopWavesInput(site=site_ref(SHOP, "primary"), deadline=SHOP.protection.stop_deadline, waves=[
        StopWaveInput(label=w.label(), apps=[app_ref(SHOP, a, index) for a in w.apps]) for w in step.waves])


def activities(tmp_path: Path, counter: Counter, provider: type[BenchSiteProvider] = BenchSiteProvider):
    return SiteActivities(Providers(tmp_path, [replace(LOCAL, factory=lambda site, _: provider(site, Timings(),
                                                                                                 counter))]))


async def test_a_retry_after_a_crash_resumes_from_the_heartbeat_and_stops_nothing_twice(tmp_path: Path) -> None:
    """The first attempt heartbeated web's wave as done and api's as begun: the retry stops api and db only."""
    begun = datetime.now(UTC)
    earlier = WavesProgress(results=[StopResult(app="web", site="primary", outcome={"web1": "stopped"})],
                            waves=[WaveRecord(started=begun, ended=begun), WaveRecord(started=begun)])
    env = ActivityEnvironment()
    env.info = replace(env.info, heartbeat_details=[earlier.model_dump(mode="json")], attempt=2)
    counter = Counter()
    progress = await env.run(activities(tmp_path, counter).stop_waves, waves_input())
    assert counter.calls == {"stop_app": 2}
    assert [(r.app, r.outcome) for r in progress.results] == [
        ("web", {"web1": "stopped"}), ("api", {"app1": "stopped"}), ("db", {"db1": "stopped"})]
    assert len(progress.waves) == 3 and progress.waves[1].started == begun
    assert all(w.ended is not None for w in progress.waves)


async def test_a_site_that_answered_nothing_in_a_wave_has_its_later_waves_fenced_at_once(tmp_path: Path) -> None:
    """web's wave tries until the deadline and is fenced with the site's error; api and db are not tried."""
    counter = Counter()
    progress = await ActivityEnvironment().run(activities(tmp_path, counter, Unreachable).stop_waves, waves_input())
    web, api, db = progress.results
    assert web.outcome["web1"] == ("fenced (not stopped within the stop deadline of 1s: connection refused "
                                   "[site=primary])")
    assert counter.calls["stop_app"] >= 1
    assert progress.unreachable == "stop web on primary (group all) could not reach it"
    assert api.outcome["app1"] == db.outcome["db1"] == (
        "fenced (the site did not answer: stop web on primary (group all) could not reach it)")
    assert progress.waves[0].ended - progress.waves[0].started >= timedelta(seconds=1)


class SomeOutside(BenchSiteProvider):
    """A site where stopping api also stopped a process Standby had not started."""

    async def stop_app(self, inp: AppInput) -> StopResult:
        result = await super().stop_app(inp)
        return result.model_copy(update={"outside": {"app1": [4242]}}) if inp.app.name == "api" else result


async def test_apps_that_simply_stopped_come_back_named_and_expand_to_their_results(tmp_path: Path) -> None:
    """Asked to, the activity names web and db (each machine stopped, nothing more) and keeps api's result, which has
    an outside process to report; expanded, every app has its result again."""
    inp = waves_input().model_copy(update={"named_when_stopped": True})
    progress = await ActivityEnvironment().run(activities(tmp_path, Counter(), SomeOutside).stop_waves, inp)
    assert progress.stopped == ["web", "db"]
    assert [(r.app, r.outside) for r in progress.results] == [("api", {"app1": [4242]})]
    machines = {name: app.machines for name, app in SHOP.apps.items()}
    every = {r.app: r for r in progress.expanded("primary", machines.__getitem__).results}
    assert {app: r.outcome for app, r in every.items()} == {
        "api": {"app1": "stopped"}, "web": {"web1": "stopped"}, "db": {"db1": "stopped"}}
    assert every["web"].site == "primary" and every["api"].outside == {"app1": [4242]}


async def test_a_retry_resumes_from_a_heartbeat_that_named_the_stopped_apps(tmp_path: Path) -> None:
    """The first attempt heartbeated web as named only: the retry does not stop it again, and still reports it."""
    begun = datetime.now(UTC)
    earlier = WavesProgress(stopped=["web"], waves=[WaveRecord(started=begun, ended=begun)])
    env = ActivityEnvironment()
    env.info = replace(env.info, heartbeat_details=[earlier.model_dump(mode="json")], attempt=2)
    counter = Counter()
    inp = waves_input().model_copy(update={"named_when_stopped": True})
    progress = await env.run(activities(tmp_path, counter).stop_waves, inp)
    assert counter.calls == {"stop_app": 2}
    assert progress.stopped == ["web", "api", "db"] and progress.results == []
