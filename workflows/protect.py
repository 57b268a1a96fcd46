"""Protect: the long-running supervisor of a runbook's replication, visible by query and in the UI."""

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.contracts import attributes, names
    from standby.contracts.protect import ProtectInput, ProtectStatus
    from standby.contracts.sites import MachineReplication, Target, public_ports
    from standby.runbook import Runbook
    from workflows import actions, policies

# One replication round: long enough to keep the history small, short enough for a fresh status.
ROUND = timedelta(seconds=5)
# Rounds before continuing as new, bounding the history (about 10 events a round).
ROUNDS_PER_RUN = 200


@workflow.defn(name="Protect")
class ProtectWorkflow:
    """Bring the apps up at the active site, then replicate round after round, continuing as new."""

    @workflow.init
    def __init__(self, inp: ProtectInput) -> None:
        self._status = ProtectStatus(runbook=inp.runbook.runbook)
        self._stop = False

    @workflow.query
    def status(self) -> ProtectStatus:
        """Replication state of every machine, with lag and latest point."""
        return self._status

    @workflow.signal
    def stop(self) -> None:
        """Stop protecting after the current round."""
        self._stop = True

    @workflow.run
    async def run(self, inp: ProtectInput) -> ProtectStatus:
        """Supervise replication until stopped."""
        runbook = inp.runbook
        workflow.upsert_search_attributes([attributes.STATE.value_set("protecting")])
        if inp.bring_up:
            await self._bring_up(runbook, (await actions.load_state(runbook)).active)
        for _ in range(ROUNDS_PER_RUN):
            if self._stop:
                workflow.upsert_search_attributes([attributes.STATE.value_set("stopped")])
                return self._status
            await self._round(runbook)
        workflow.continue_as_new(ProtectInput(runbook=runbook, bring_up=False))

    async def _bring_up(self, runbook: Runbook, site: str) -> None:
        """Start every app at the active site in group order and point its identity there."""
        for group in runbook.groups:
            started = await asyncio.gather(*(self._start(runbook, site, app) for app in group.apps))
            for app, targets in zip(group.apps, started):
                if runbook.apps[app].endpoint:
                    await actions.move_identity(runbook, app, site, targets)
                self._status.serving[app] = site

    async def _start(self, runbook: Runbook, site: str, app: str) -> list[Target]:
        return await actions.start_app(runbook, site, app, public_ports(runbook))

    async def _round(self, runbook: Runbook) -> None:
        state = await actions.load_state(runbook)
        inp = actions.replication_input(runbook, state.replication_source, state.replication_target,
                                        list(runbook.apps), seconds=ROUND.total_seconds(), supervise=True)
        inp.copy_data = state.replicating
        self._status.machines = await workflow.execute_activity(
            names.REPLICATE, inp, result_type=list[MachineReplication],
            summary=f"replicate {state.replication_source} -> {state.replication_target}"
            + ("" if state.replicating else " (paused)"),
            retry_policy=policies.PROVIDER, start_to_close_timeout=ROUND * 6, heartbeat_timeout=policies.PROVIDER_HEARTBEAT,
        )
        self._status.state, self._status.updated = state, workflow.now()
        self._status.rounds += 1
        self._status.serving = {app: state.active for app in runbook.apps}
