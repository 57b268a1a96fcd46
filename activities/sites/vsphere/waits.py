"""One wait for every task of a batch: a PropertyCollector of the batch's own, watched by one WaitForUpdatesEx loop.

The machines of a batch launch concurrently, each through its own steps (revert, customize, reconfigure, power on).
Their tasks are not polled one by one: once every unfinished machine waits for a task, the tasks not watched yet
get one property filter together, and one WaitForUpdatesEx reports whichever tasks end; each task's end (its
result, or its fault mapped once) goes to the machine that waits for it, so one failing task fails one machine.

pyVim.task.WaitForTasks does not fit: it waits on the session's shared collector (another batch of this worker's
session would take its updates), with the deprecated WaitForUpdates and no time limit, it stops at the first task
that fails, and it reads whole TaskInfo objects, which pyvmomi cannot decode for snapshot tasks.
"""

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyVmomi import vim, vmodl

from activities.sites.base import ProviderError
from activities.sites.vsphere.errors import mapped
from activities.sites.vsphere.session import Session

T = TypeVar("T")
# Read field by field: a whole TaskInfo names its entity, which pyvmomi refuses to decode for snapshot tasks.
FIELDS = ["info.state", "info.error", "info.result", "info.progress"]
# One WaitForUpdatesEx blocks at most this long: well under the session's 30 s socket timeout.
MAX_WAIT_SECONDS = 10
PC = vmodl.query.PropertyCollector

CURRENT: ContextVar["TaskWaits | None"] = ContextVar("standby_vsphere_task_waits", default=None)
"""The waiter of the batch whose machine is running: every task it starts (power, snapshots, reconfiguration,
fencing) reaches the batch's one wait without each helper passing it on."""


@dataclass
class _Waiting:
    """A task a machine waits for, and what the watch has seen of it."""

    task: vim.Task
    what: str
    context: str
    done: "asyncio.Future[Any]"
    seen: dict[str, Any] = field(default_factory=dict)


class TaskWaits:
    """The tasks of one batch's machines, waited for together on one session."""

    def __init__(self, session: Session, context: str, machines: int):
        self.session, self.context = session, context
        self._busy = machines  # machines neither finished nor waiting for a task
        self._waiting: dict[str, _Waiting] = {}
        self._unwatched: list[str] = []
        self._filters: dict[Any, set[str]] = {}
        self._quiet = asyncio.Event()
        self._collector: Any = None
        self._broken: ProviderError | None = None

    async def run(self, calls: list[Awaitable[None]]) -> None:
        """Each machine's call to its end, their tasks waited for together; the collector removed afterwards."""
        try:
            self._collector = await self._call(lambda content: content.propertyCollector.CreatePropertyCollector(),
                                               "create the batch's property collector")
        except BaseException:
            for call in calls:  # never to run (a vCenter that is down): closed, not left unawaited
                if inspect.iscoroutine(call):
                    call.close()
            raise
        token = CURRENT.set(self)
        watch = asyncio.create_task(self._watch())
        try:
            await asyncio.gather(*map(self._machine, calls))
        finally:
            CURRENT.reset(token)
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
            # Also ends a WaitForUpdatesEx still blocking in its thread.
            await self._call(lambda _: self._collector.DestroyPropertyCollector(),
                             "remove the batch's property collector")

    async def wait(self, task: vim.Task, what: str, context: str, timeout: float) -> Any:
        """The task's result once the batch's watch sees it end; its fault mapped to a provider error."""
        if self._broken is not None:
            raise self._broken
        waiting = _Waiting(task, what, context, asyncio.get_running_loop().create_future())
        self._waiting[task._moId] = waiting
        self._unwatched.append(task._moId)
        self._busy -= 1
        self._check()
        try:
            return await asyncio.wait_for(waiting.done, timeout)
        except TimeoutError:
            state = waiting.seen.get("info.state", "queued")
            raise ProviderError(f"{what} failed: task {task._moId} still {state} after {timeout:.0f}s "
                                f"[{context}]") from None
        finally:
            if self._waiting.pop(task._moId, None) is not None:  # not settled by the watch: running again
                self._busy += 1

    async def _machine(self, call: Awaitable[None]) -> None:
        try:
            await call
        finally:
            self._busy -= 1
            self._check()

    def _check(self) -> None:
        """Wake the watch once every unfinished machine waits for a task."""
        if self._busy == 0 and self._waiting:
            self._quiet.set()

    async def _watch(self) -> None:
        try:
            version = ""
            while True:
                await self._quiet.wait()
                self._quiet.clear()
                if self._unwatched:
                    await self._filter()
                    # vCenter reports a new filter's tasks in the next wait; vcsim only at version "" or once one
                    # of them changes, which a task that ended already never does. "" reports the live filters.
                    version = ""
                update = await self._next(version)
                if update is not None:
                    version = update.version
                    self._deliver(update)
                await self._prune()
                self._check()
        except Exception as error:  # the machines waiting must hear of it, or they would wait for ever
            self._broken = mapped(error, "wait for the batch's tasks", self.context)
            for waiting in list(self._waiting.values()):
                waiting.done.set_exception(self._broken)

    async def _next(self, version: str) -> Any:
        """The updates after `version`, or None when MAX_WAIT_SECONDS passed without any."""
        options = PC.WaitOptions(maxWaitSeconds=MAX_WAIT_SECONDS)
        return await self._call(lambda _: self._collector.WaitForUpdatesEx(version, options),
                                "wait for the batch's tasks")

    async def _filter(self) -> None:
        """One filter for every task started since the last wait."""
        moids, self._unwatched = self._unwatched, []
        spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=self._waiting[m].task, skip=False) for m in moids],
                             propSet=[PC.PropertySpec(type=vim.Task, pathSet=FIELDS)])
        made = await self._call(lambda _: self._collector.CreateFilter(spec, partialUpdates=True),
                                f"watch {len(moids)} tasks")
        self._filters[made] = set(moids)

    def _deliver(self, update: Any) -> None:
        for changed in update.filterSet or []:
            for item in changed.objectSet or []:
                waiting = self._waiting.get(item.obj._moId)
                if waiting is None:
                    continue
                if item.kind == "leave":
                    self._settle(waiting, error=ProviderError(
                        f"{waiting.what} failed: task {item.obj._moId} vanished [{waiting.context}]"))
                    continue
                for change in item.changeSet or []:
                    waiting.seen[change.name] = None if change.op == "remove" else change.val
                self._settle_if_ended(waiting)

    def _settle_if_ended(self, waiting: _Waiting) -> None:
        state = waiting.seen.get("info.state")
        if state == vim.TaskInfo.State.success:
            self._settle(waiting, result=waiting.seen.get("info.result"))
        elif state == vim.TaskInfo.State.error:
            self._settle(waiting, error=mapped(waiting.seen["info.error"], waiting.what, waiting.context))

    def _settle(self, waiting: _Waiting, result: Any = None, error: ProviderError | None = None) -> None:
        del self._waiting[waiting.task._moId]
        self._busy += 1
        if error is None:
            waiting.done.set_result(result)
        else:
            waiting.done.set_exception(error)

    async def _prune(self) -> None:
        """Remove the filters whose tasks all ended, so that a resync reports only live ones."""
        for made, moids in list(self._filters.items()):
            if not moids & self._waiting.keys():
                del self._filters[made]
                await self._unwatch(made)

    async def _unwatch(self, made: Any) -> None:
        await self._call(lambda _: made.DestroyPropertyFilter(), "stop watching ended tasks")

    async def _call(self, fn: Callable[[vim.ServiceInstanceContent], T], what: str) -> T:
        return await self.session.run(fn, what, self.context)
