"""Stopping a large wave of apps, as a child workflow so that no history grows with the runbook."""

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.contracts.operations import StopInput
    from standby.contracts.sites import StopResult
    from workflows import actions

# Apps stopped at once; bounds pending activities far below Temporal's 2,000.
MAX_PARALLEL_STOPS = 100


@workflow.defn(name="StopApps")
class StopAppsWorkflow:
    """Stop a batch of apps of one wave at a site, in parallel."""

    @workflow.run
    async def run(self, inp: StopInput) -> list[StopResult]:
        """Each app stopped gracefully, then forcibly; a failure to stop fails the batch (fencing)."""
        slots = asyncio.Semaphore(MAX_PARALLEL_STOPS)

        async def stop(app: str) -> StopResult:
            async with slots:
                return await actions.stop_app(inp.runbook, inp.site, app)

        return list(await asyncio.gather(*(stop(app) for app in inp.apps)))
