"""Raw Temporal for comparison: one workflow fanning out no-op activities with the same bound on work in flight.

At 10,000 machines (30,000 activities) the fan-out used to start all of its 60 children at once: 6,000 activities
in flight on a 2-core worker that also runs the dev server. Reproduced, the worker falls behind: no-op activities
outlive their 30 s start-to-close timeout and are retried, workflow tasks miss their deadline (and the 2 s deadlock
detector) and are replayed from 1,400-event histories, and after 14 minutes no child had finished. Standby bounds
its children in flight; so does this baseline now (MAX_CHILDREN), so that both measure throughput, not overload.
"""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

# The same bound Standby puts on apps in flight per workflow.
IN_FLIGHT = 100
# Activities per child workflow.
BATCH = 500
# Children running at once: at most MAX_CHILDREN x IN_FLIGHT activities in flight in all.
MAX_CHILDREN = 4


@activity.defn(name="raw_noop")
async def raw_noop(index: int) -> int:
    """Nothing at all: what remains is Temporal's own cost."""
    return index


@workflow.defn(name="RawFanOut")
class RawFanOut:
    """Run `count` no-op activities, at most IN_FLIGHT at a time per workflow, in child workflows of `batch` each,
    at most MAX_CHILDREN children at a time."""

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
        children = asyncio.Semaphore(MAX_CHILDREN)

        async def child(n: int, size: int) -> int:
            async with children:
                return await workflow.execute_child_workflow(RawFanOut.run, args=[size, batch],
                                                             id=f"{workflow.info().workflow_id}/{n}")

        sizes = [min(batch, count - start) for start in range(0, count, batch)]
        return sum(await asyncio.gather(*(child(n, size) for n, size in enumerate(sizes))))


RAW_WORKFLOWS = [RawFanOut]
RAW_ACTIVITIES = [raw_noop]
