"""Raw Temporal for comparison: one workflow fanning out no-op activities with the same bound on work in flight."""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

# The same bound Standby puts on apps in flight per workflow.
IN_FLIGHT = 100
# Activities per child workflow.
BATCH = 500


@activity.defn(name="raw_noop")
async def raw_noop(index: int) -> int:
    """Nothing at all: what remains is Temporal's own cost."""
    return index


@workflow.defn(name="RawFanOut")
class RawFanOut:
    """Run `count` no-op activities, at most IN_FLIGHT at a time, in child workflows of `batch` each."""

    @workflow.run
    async def run(self, count: int, batch: int = BATCH) -> int:
        """The number of activities run."""
        if count <= batch:
            slots = asyncio.Semaphore(IN_FLIGHT)

            async def one(index: int) -> int:
                async with slots:
                    return await workflow.execute_activity(raw_noop, index,
                                                           start_to_close_timeout=timedelta(seconds=30))

            return len(await asyncio.gather(*(one(i) for i in range(count))))
        sizes = [min(batch, count - start) for start in range(0, count, batch)]
        done = await asyncio.gather(*(
            workflow.execute_child_workflow(RawFanOut.run, args=[size, batch],
                                            id=f"{workflow.info().workflow_id}/{n}")
            for n, size in enumerate(sizes)))
        return sum(done)


RAW_WORKFLOWS = [RawFanOut]
RAW_ACTIVITIES = [raw_noop]
