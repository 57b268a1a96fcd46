"""The DR copy of a trio: each app replicated from the site serving it to the pair's tertiary, round after round.

A trio is an HA pair (primary and secondary, which switch over and fail over between them) and a tertiary
elsewhere, which keeps recovery points of every app wherever it serves; its replication is shown in status.
"""

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from standby import takeover
    from standby.contracts import names
    from standby.contracts.monitor import MonitorState
    from standby.contracts.sites import MachineReplication
    from standby.contracts.state import RunbookTruth
    from standby.runbook import Runbook
    from workflows import actions, policies

# One replication round into the tertiary, as the owner's own rounds.
ROUND = timedelta(seconds=5)


class TertiaryCopies:
    """Replication of each trio's apps into its tertiary."""

    def __init__(self, state: MonitorState, runbook: Callable[[], Runbook], truth: Callable[[], RunbookTruth]):
        self.state, self._runbook, self._truth = state, runbook, truth

    async def run(self, name: str) -> None:
        """Replicate a trio's apps into its tertiary while the runbook is protected; for ever."""
        while True:
            await workflow.wait_condition(lambda: bool(self._sources(name)))
            found: list[MachineReplication] = []
            for source, apps in self._sources(name).items():
                found += await self._replicate(name, source, apps)
            self.state.tertiary[name] = found

    def _sources(self, name: str) -> dict[str, list[str]]:
        """The trio's apps by the site serving them (never the tertiary itself), while protected."""
        truth, pair = self._truth(), self._runbook().pairs.get(name)
        if pair is None or pair.tertiary is None or not truth.protecting:
            return {}
        by_site: dict[str, list[str]] = {}
        for app in pair.apps:
            site = truth.apps[app].serving if app in truth.apps else None
            if site is not None and site != pair.tertiary and app in takeover.served_at(truth, pair, site):
                by_site.setdefault(site, []).append(app)
        return by_site

    async def _replicate(self, name: str, source: str, apps: list[str]) -> list[MachineReplication]:
        runbook = self._runbook()
        tertiary = runbook.pairs[name].tertiary
        assert tertiary is not None
        inp = actions.replication_input(runbook, source, tertiary, apps, seconds=ROUND.total_seconds())
        try:
            states: list[MachineReplication] = await workflow.execute_activity(
                names.REPLICATE, inp, result_type=list[MachineReplication],
                summary=f"replicate {source} -> {tertiary} (tertiary of {name})",
                task_queue=actions.site_queue(tertiary),
                retry_policy=policies.PROVIDER, start_to_close_timeout=ROUND * 6,
                heartbeat_timeout=policies.PROVIDER_HEARTBEAT)
            return states
        except ActivityError as error:  # a tertiary that is gone stalls its copy, never the owner
            await workflow.sleep(ROUND)
            return [MachineReplication(machine=m, phase="stalled", detail=str(error.cause or error))
                    for a in apps for m in runbook.apps[a].machines]
