"""The protect monitor, run inside the runbook's owner while the runbook is protected.

For each pair with a `monitor`, and each of its sites, a loop watches the pair's apps that serve there (the
`watch_health` activity on that site's queue) and answers each fault with the one rung of the app's ladder
it reaches: a restart at the serving site (stop, then start, through the provider), a switchover or failover
of the app's group through the owner's own `request` (the state machine's check, a child workflow, a new
epoch), or an alert. While one app is being remediated its site's loop waits, so one fault starts one action;
while an operation runs nothing is watched. Paused (maintenance mode), it watches and records, and acts on
nothing. Deterministic: every decision is a pure function (`standby.ladder`) of what the activities returned.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from standby import ladder
    from standby.continuity import Monitor as MonitorSettings
    from standby.contracts import attributes, names
    from standby.contracts.gates import GateRecord
    from standby.contracts.monitor import AppReading, HealthReport, HealthWatch, Ladder, MonitorCommand, MonitorState
    from standby.contracts.pairs import FailoverEvidence
    from standby.contracts.sites import AppInput, StopResult, Target, app_ref, public_ports, site_ref
    from standby.contracts.state import OperationRequest, RunbookTruth
    from standby.runbook import Runbook
    from workflows import actions, gates, policies
    from workflows.alerts import Alerts
    from workflows.pairs import PairMonitor
    from workflows.tertiary import TertiaryCopies

# Phases in which an app serves somewhere and may be watched there.
SERVING = ("protected", "failed_over", "reverse_protected", "failed_back")
# A stop within a restart: the app's own stop timeout, and this for the provider's call around it.
RESTART_MARGIN = timedelta(seconds=30)
# Events kept in the monitor's state for `standby status`.
EVENTS = 30
# Restarts leave to the heartbeats what a site that lost touch stopped (workflow.patched).
YIELD = "restarts-yield-to-heartbeats"
# A restart that could not start the app is marked on its ladder, which then climbs on at its next fault.
CLIMB_ON = "failed-restart-climbs-on"

Requester = Callable[[OperationRequest], Awaitable[str]]


class AppMonitor:
    """Watches the apps of a runbook's pairs and climbs their ladders; its state survives continue-as-new."""

    def __init__(self, state: MonitorState | None, runbook: Callable[[], Runbook],
                 truth: Callable[[], RunbookTruth], request: Requester):
        self.state = state or MonitorState()
        self._runbook, self._truth, self._request = runbook, truth, request
        self._loops: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._acting: set[str] = set()
        self.alerts = Alerts(runbook, self.event)
        self.pairs = PairMonitor(self.state, runbook, truth, request, self.alerts, self.event)
        self.tertiary = TertiaryCopies(self.state, runbook, truth)

    def busy(self) -> bool:
        """Whether a remediation is under way (the owner does not continue as new in the middle of one)."""
        return bool(self._acting) or self.pairs.busy()

    def lost_sites(self) -> list[str]:
        """Sites whose lease has run out: an operation need not wait to stop them."""
        return self.pairs.lost_sites()

    def evidence(self, apps: list[str], requested_by: str) -> list[FailoverEvidence]:
        """What the pairs' heartbeats say of the sites a failover of `apps` leaves: its evidence."""
        return self.pairs.evidence(apps, requested_by)

    async def run(self) -> None:
        """Start a loop for every (pair, site) with a monitor, as the runbook names them; for ever."""
        workflow.upsert_search_attributes([attributes.MONITOR.value_set(self._mode())])
        self._loops[("", "")] = asyncio.create_task(self.pairs.run())
        while True:
            for key in self._wanted():
                if key not in self._loops:
                    loop = self._watch_site(*key) if key[1] else self.tertiary.run(key[0])
                    self._loops[key] = asyncio.create_task(loop)
            await workflow.wait_condition(lambda: not set(self._wanted()) <= set(self._loops))

    def command(self, command: MonitorCommand, record: GateRecord) -> str:
        """Pause (maintenance mode: nothing acts) or resume, as the gate's record allows; refused on the record."""
        if not record.allowed:
            self.event(record.describe())
            raise gates.refusal(record)
        paused = command.action == "pause"
        if paused == self.state.paused:
            return f"the monitor is already {self._mode()}"
        self.state.paused, self.state.paused_by = paused, record.by if paused else ""
        self.state.pause = record if paused else None
        workflow.upsert_search_attributes([attributes.MONITOR.value_set(self._mode())])
        why = f": {command.reason}" if command.reason else ""
        self.event(f"{record.describe()}{why}")
        return f"monitor of {self._runbook().runbook} {record.describe()}"

    def _mode(self) -> str:
        return "paused" if self.state.paused else "watching"

    def event(self, text: str) -> None:
        """Record a decision: in the state for `standby status`, in the memo so the history shows it."""
        line = f"{workflow.now():%H:%M:%S} {text}"
        self.state.events = [*self.state.events[-(EVENTS - 1):], line]
        workflow.upsert_memo({"monitor": line})

    def _wanted(self) -> list[tuple[str, str]]:
        """(pair, site) for each site whose apps are watched; (pair, "") for each trio's copy into its tertiary."""
        pairs = self._runbook().pairs.items()
        return [*((name, site) for name, pair in pairs if pair.monitor for site in pair.nodes()),
                *((name, "") for name, pair in pairs if pair.tertiary)]

    def watched(self, pair: str, site: str) -> list[str]:
        """The apps of a pair to watch at a site now: serving there, not being remediated, no operation running."""
        truth, spec = self._truth(), self._runbook().pairs.get(pair)
        if spec is None or spec.monitor is None or not truth.protecting or truth.operation is not None:
            return []
        runbook = self._runbook()
        return [app for app in spec.apps if app in truth.apps and truth.apps[app].serving == site
                and truth.apps[app].phase in SERVING and app not in self._acting and runbook.apps[app].health
                and not self.pairs.held(app)]

    async def _watch_site(self, pair: str, site: str) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self.watched(pair, site)))
            spec = self._runbook().pairs[pair]
            assert spec.monitor is not None
            report = await self._watch(pair, site, spec.monitor)
            if report is None:
                await workflow.sleep(spec.monitor.interval)
                continue
            self.state.readings.update(report.readings)
            # Holds by `app/rule`: this watch's apps replace theirs, another pair's at the same site keep theirs.
            others = {k: v for k, v in self.state.held.get(site, {}).items() if k.split("/")[0] not in report.readings}
            self.state.held[site] = {**others, **report.held}
            if self._truth().operation is None:
                await self._remediate(pair, site, report)

    async def _watch(self, pair: str, site: str, monitor: MonitorSettings) -> HealthReport | None:
        runbook, apps = self._runbook(), self.watched(pair, site)
        interval = monitor.interval.total_seconds()
        window = min(60.0, max(5.0, 10 * interval))
        probes = sum(max((c.timeout.total_seconds() for c in runbook.apps[a].health), default=0) for a in apps)
        inp = HealthWatch(site=site_ref(runbook, site), apps=[app_ref(runbook, a) for a in apps],
                          interval_seconds=interval, threshold=monitor.threshold, window_seconds=window,
                          rules=list(monitor.rules), held=self.state.held.get(site, {}))
        try:
            report: HealthReport = await workflow.execute_activity(
                names.WATCH_HEALTH, inp, result_type=HealthReport, summary=f"watch {', '.join(apps)} at {site}",
                task_queue=actions.site_queue(site), start_to_close_timeout=timedelta(seconds=window + probes + 60),
                schedule_to_start_timeout=timedelta(seconds=window),
                heartbeat_timeout=timedelta(seconds=interval + probes + 10),
                retry_policy=policies.ONCE,
            )
        except ActivityError:
            return None  # the site's worker is gone or stuck: its heartbeats say which; try again next interval
        return report

    async def _remediate(self, pair: str, site: str, report: HealthReport) -> None:
        monitor = self._runbook().pairs[pair].monitor
        assert monitor is not None
        # What changed while the watch ran (an operation, a suspected site) decides before what it saw.
        current = set(self.watched(pair, site))
        report = report.model_copy(update={"faults": [a for a in report.faults if a in current],
                                           "hits": [h for h in report.hits if h.app in current]})
        runbook = self._runbook()
        # A dependency its site stopped (the lease ran out) explains its dependants' faults as a failing one does:
        # restarting them now races the heartbeats' own restore and leaves them stopped for the ladder's spacing.
        down = [a for a in runbook.apps if self.pairs.held(a)] if report.faults and workflow.patched(YIELD) else []
        causes = ladder.explained(report.faults, {a: list(spec.depends_on) for a, spec in runbook.apps.items()}, down)
        for app in report.faults:
            if causes.get(app) in down:
                self.event(f"{app} at {site}: {causes[app]}, which it depends on, is stopped until its site is back "
                           "in touch: no action of its own")
                continue
            if app in causes:
                self.event(f"{app} at {site}: failing with {causes[app]}, which it depends on: no action of its own")
                continue
            await self._fault(pair, monitor, site, report.readings[app])
        for hit in report.hits:
            self.state.hits = [*self.state.hits[-9:], hit]
            detail = f"rule {hit.describe} held ({hit.value:g} since {hit.since:%H:%M:%S})"
            await self._act(pair, site, hit.app, monitor.rules[hit.rule].action, detail, kind="rule_held")

    async def _fault(self, pair: str, monitor: MonitorSettings, site: str, reading: AppReading) -> None:
        app = reading.app
        detail = f"fault: {reading.failures} failed checks ({reading.detail})"
        if self.state.paused:
            self.event(f"{app} at {site}: {detail}; paused, no action")
            return
        decision = ladder.decide(self.state.ladders.get(app, Ladder()), monitor, workflow.now())
        self.state.ladders[app] = decision.ladder
        await self._act(pair, site, app, decision.action, f"{detail} -> {decision.action}: {decision.reason}")

    async def _act(self, pair: str, site: str, app: str, action: str, detail: str, kind: str = "app_failing") -> None:
        if self.state.paused:
            self.event(f"{app} at {site}: {detail}; paused, no action")
            return
        self.event(f"{app} at {site}: {detail}")
        self._acting.add(app)
        try:
            if action == "restart":
                await self._restart(site, app)
            elif action in ("switchover", "failover"):
                await self._operate(pair, site, app, action)
            elif action == "alert":
                await self.alerts.raise_alert(pair, kind, site, f"{app}: {detail}", app=app)
        finally:
            self._acting.discard(app)

    async def _restart(self, site: str, app: str) -> None:
        runbook = self._runbook()
        timeout = runbook.apps[app].stop_timeout + RESTART_MARGIN
        yielding = workflow.patched(YIELD)
        stopped: StopResult | None = None
        try:
            stopped = await actions.stop_app(runbook, site, app, timeout)
            if yielding and self._handed_back(site, app, "stopped"):
                return
            inp = AppInput(site=site_ref(runbook, site), app=app_ref(runbook, app), endpoints=public_ports(runbook),
                           epoch=self._truth().epoch)
            # Two tries, briefly: a restart that cannot start now is a fault the next watch climbs on from.
            await workflow.execute_activity(
                names.START_APP, inp, result_type=list[Target], summary=f"restart {app} on {site}",
                task_queue=actions.site_queue(site), start_to_close_timeout=timeout,
                heartbeat_timeout=policies.PROVIDER_HEARTBEAT, retry_policy=policies.RESTART)
        except ActivityError as error:
            self.event(f"{app} at {site}: restart failed: {_cause(error)}")
            if yielding and self._handed_back(site, app, "not started"):
                return
            if stopped is not None and workflow.patched(CLIMB_ON):
                # Stopped and not started: it is down, so its next fault need not wait out the spacing.
                self.state.ladders[app] = ladder.not_started(self.state.ladders.get(app, Ladder()))
            return
        if self._truth().apps[app].serving != site or self.pairs.held(app):
            # It moved while it restarted (a takeover), or its site lost touch: it must not run here now.
            await actions.stop_app(runbook, site, app, timeout)
            self.event(f"{app} at {site}: stopped again, its site is suspected or another serves it now")
            if yielding:
                self._handed_back(site, app, "stopped again")
            return
        self.event(f"{app} at {site}: restarted ({', '.join(f'{m} {o}' for m, o in stopped.outcome.items())})")

    def _handed_back(self, site: str, app: str, how: str) -> bool:
        """Whether a restart that left an app stopped leaves it to the heartbeats: its site lost touch while it
        restarted, so the app is theirs to start again once the site is back in touch and still serves it (as
        they do what the site's agent stopped), not the ladder's, which would wait out its spacing first."""
        if self._truth().apps[app].serving != site or not self.pairs.held(app):
            return False
        self.pairs.stopped_here(site, app)
        self.event(f"{app} at {site}: {how} while its site lost touch; the heartbeats start it again once it is back")
        return True

    async def _operate(self, pair: str, site: str, app: str, operation: str) -> None:
        """The app's group (its members in this pair serving at this site) through the owner's state machine."""
        runbook, truth = self._runbook(), self._truth()
        group = next(g for g in runbook.groups if app in g.apps)
        members = runbook.pairs[pair].apps
        only = [a for a in group.apps if a in members and truth.apps[a].serving == site]
        request = OperationRequest(operation=operation, runbook=runbook, only=only, yes=True,
                                   requested_by="monitor")
        try:
            ident = await self._request(request)
        except ApplicationError as error:
            self.event(f"{operation} of {', '.join(only)} refused: {error.message}")
            await self.alerts.raise_alert(pair, f"{operation}_refused", site, error.message, app=app)
            return
        self.event(f"{operation} of group {group.name} ({', '.join(only)}) started: {ident}")


def _cause(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return error.message if isinstance(error, ApplicationError) else str(error) or type(error).__name__
