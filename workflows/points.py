"""Listing recovery points: each machine's points asked of the worker of the site it replicates into."""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from standby.contracts import names
    from standby.contracts.programme import AppPointsInput, ListPointsInput, MachinePoints
    from standby.contracts.sites import RecoveryPoint
    from workflows import actions, policies

# An operator waits at the prompt: a site whose worker does not answer in this time is named, not waited for.
DEADLINE = timedelta(seconds=30)

@workflow.defn(name="RecoveryPoints")
class RecoveryPointsWorkflow:
    """Every machine's points in parallel; a site that does not answer is named, not fatal to the others."""

    @workflow.run
    async def run(self, inp: ListPointsInput) -> list[MachinePoints]:
        """The points of each machine, in the order asked."""
        return list(await asyncio.gather(*(self._points(machine) for machine in inp.machines)))

    async def _points(self, machine: AppPointsInput) -> MachinePoints:
        site = machine.points.target.name
        listed = MachinePoints(app=machine.app, machine=machine.points.machine.name, site=site)
        try:
            listed.points = await workflow.execute_activity(
                names.RECOVERY_POINTS, machine.points, result_type=list[RecoveryPoint],
                summary=f"recovery points of {listed.machine} on {site}", task_queue=actions.site_queue(site),
                **policies.until(DEADLINE, policies.PROVIDER))
        except ActivityError as error:
            cause = error.cause
            listed.error = (cause.message if isinstance(cause, ApplicationError) else
                            f"no worker of site {site} answered within {DEADLINE.total_seconds():g}s")
        return listed
