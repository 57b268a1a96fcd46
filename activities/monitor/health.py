"""Watching apps where they serve: every check of every app each interval, failures counted, rules held.

The watch returns as soon as an app has failed `threshold` checks in a row or a rule has held for its
duration, so a fault is acted on within an interval of being seen; otherwise at the end of its window,
with every app's last reading for `standby status`.
"""

import asyncio
import time
from datetime import UTC, datetime

from temporalio import activity

from activities.checks import BadCheckError, probe
from activities.monitor.metrics import ProcessMetrics
from standby.contracts.checks import HealthInput, ProbeResult, health_input
from standby.contracts.monitor import AppReading, HealthReport, HealthWatch, RuleHit
from standby.contracts.sites import AppRef, SiteRef, Target
from standby.runbook import LocalSite


def live_targets(site: SiteRef, app: AppRef) -> list[Target]:
    """Where an app's machines serve at a site: a local site's port per machine; elsewhere the checks say."""
    base = site.config.port_base if isinstance(site.config, LocalSite) else None
    return [Target(key="live", machine=m.name, app=app.name, site=site.name, mode="recovery",
                   target_id=f"{site.name}/{m.name}", address="127.0.0.1" if base else None,
                   port=base + m.index if base else None)
            for m in app.machines]


async def check_app(site: SiteRef, app: AppRef) -> list[ProbeResult]:
    """Every health check of the app against every machine, in parallel; a check that cannot run fails."""
    targets = live_targets(site, app)
    probes = [health_input(app, check, target) for check in app.config.health for target in targets]
    return list(await asyncio.gather(*(_probe(p) for p in probes)))


async def _probe(inp: HealthInput) -> ProbeResult:
    try:
        return await probe(inp)
    except BadCheckError as error:
        return ProbeResult(ok=False, detail=f"{inp.label}: cannot run: {error}", duration_seconds=0)


class HealthWatcher:
    """The `watch_health` activity, with the process readings it keeps between probes."""

    def __init__(self, metrics: ProcessMetrics):
        self.metrics = metrics

    async def watch(self, inp: HealthWatch) -> HealthReport:
        """Check until a fault, a rule hit, or the window's end; heartbeat each interval."""
        deadline = time.monotonic() + inp.window_seconds
        report = HealthReport(site=inp.site.name, held=dict(inp.held))
        failures = {app.name: 0 for app in inp.apps}
        while True:
            started = time.monotonic()
            for app in inp.apps:
                reading = await self._read(inp, app, failures)
                report.readings[app.name] = reading
                if reading.failures >= inp.threshold:
                    report.faults.append(app.name)
                report.hits += _rules(inp, reading, report.held)
            if report.faults or report.hits or time.monotonic() >= deadline:
                return report
            activity.heartbeat(f"{len(inp.apps)} apps checked at {inp.site.name}")
            await asyncio.sleep(max(0.0, inp.interval_seconds - (time.monotonic() - started)))

    async def _read(self, inp: HealthWatch, app: AppRef, failures: dict[str, int]) -> AppReading:
        results = await check_app(inp.site, app)
        bad = [r.detail for r in results if not r.ok]
        failures[app.name] = failures[app.name] + 1 if bad else 0
        latency = max((r.duration_seconds for r in results), default=0.0)
        metrics = {**await asyncio.to_thread(self.metrics.read, inp.site, app), "latency": latency}
        return AppReading(app=app.name, site=inp.site.name, ok=not bad, failures=failures[app.name],
                          detail="; ".join(bad) or f"{len(results)} checks passed", latency_seconds=latency,
                          metrics=metrics, at=datetime.now(UTC))


def _rules(inp: HealthWatch, reading: AppReading, held: dict[str, datetime]) -> list[RuleHit]:
    """Rules that have held for their duration now; each hit starts its hold again, so one hold acts once."""
    hits = []
    for index, rule in enumerate(inp.rules):
        key, value = f"{reading.app}/{index}", reading.metrics.get(rule.metric)
        if value is None or not rule.breached(value):
            held.pop(key, None)
            continue
        since = held.setdefault(key, reading.at)
        # Never before its duration: a reading a few microseconds short waits for the next one.
        if reading.at - since >= rule.for_:
            hits.append(RuleHit(app=reading.app, rule=index, describe=rule.describe(), value=value, since=since,
                                at=reading.at))
            del held[key]
    return hits
