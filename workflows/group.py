"""Recovery of one priority group: in a child workflow, or inline in the operation when the group is small.

An app starts as soon as the apps it depends on in the group are healthy
(workflows/ready.py); apps ready at the same moment launch together, one launch
activity per batch of machines. Each app: pre-launch hooks, launch of its
machines, post-launch hooks, health checks, then its network identity moves
(workflows/recovery.py). Batches run inline until the history reaches `inline_history`
events (GroupInput), then as `RecoverApps` children, so that every history stays in the
low thousands of events whatever the runbook's size.

A group whose history estimate (`history_estimate`) fits under INLINE_GROUP_HISTORY
with the operation's own runs in the operation itself (`inline_group`): no child to
start, decode and complete, about 0.2 s less per group on a failover's critical path.

Executions begun before batches (no `batched-recovery` marker in their history)
keep the waves they began with: a wave larger than BATCH_APPS apps as
`RecoverApps` children, one activity per machine.
"""

import asyncio
from collections.abc import Callable
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.contracts.batches import BATCH_MACHINES, batches
    from standby.contracts.operations import AppOutcome, GroupInput, GroupResult, StepRecord
    from standby.contracts.sites import runbook_slice
    from standby.plan_steps import AppStep, GroupStage, Wave
    from workflows.operator import Operator
    from workflows.ready import recover_when_ready
    from workflows.recovery import AppRecovery

# A wave up to this size runs inline; a larger one in batch children of this size.
BATCH_APPS = 50
# Batch children running at once; bounds pending children far below Temporal's 2,000.
MAX_PARALLEL_BATCHES = 20
# A parent keeps its children's steps on its own timeline up to this many; beyond, a summary step.
MAX_COPIED_STEPS = 500
# Recovery in batches of machines, each app as soon as its dependencies are healthy (workflows/ready.py).
BATCHED = "batched-recovery"
# Outcomes a result carries app by app, so that no payload nears Temporal's 2 MiB; beyond, only their count.
MAX_RESULT_APPS = 1000
# An operation recovers a group inline while its history, with the group's estimate added, stays under this many
# events. Far below the 10,240 that no history may reach: it leaves room for the operation's own steps outside its
# groups (a few hundred events at 10,000 machines), for later groups as children (about ten events each), and for an
# estimate wrong by half. Past it the inline group's batches go on in RecoverApps children (its `inline_history`).
INLINE_GROUP_HISTORY = 4000
# History events an activity adds: scheduled, started, completed, and the workflow task its result wakes.
ACTIVITY_EVENTS = 6
# A hook step at most: its activity, a prompt (its memo, the `continue` update), the workflow tasks around them.
HOOK_EVENTS = 20
# A group's own: its markers, its report to the owner, the tasks that begin and end it.
GROUP_EVENTS = 20


def keep_steps(steps: list[StepRecord], label: str, started: datetime, ended: datetime,
               where: str = "; see the child workflows") -> list[StepRecord]:
    """The steps themselves, or one summary step (saying `where` they are) when there are too many to carry in a
    result."""
    if len(steps) <= MAX_COPIED_STEPS:
        return steps
    failed = sum(s.status == "failed" for s in steps)
    return [StepRecord(name=label, started=started, ended=ended, status="failed" if failed else "done",
                       detail=f"{len(steps)} steps ({failed} failed){where}")]


def history_estimate(inp: GroupInput) -> int:
    """The history events recovering the group adds, at most (but for prompts answered many times): its launches
    (`launches`), an activity per health check of each machine and per identity move, each hook an activity and
    a prompt."""
    stage, runbook = inp.step.stage, inp.runbook
    apps = [app for wave in stage.waves for app in wave.apps]
    checks = sum(len(runbook.apps[a.app].health) * len(a.machines) for a in apps)
    moves = sum(bool(a.endpoint) for a in apps) if inp.step.move_identity else 0
    hook_steps = len(stage.before) + len(stage.after) + sum(len(a.pre_launch) + len(a.post_launch) for a in apps)
    return GROUP_EVENTS + ACTIVITY_EVENTS * (launches(apps) + checks + moves) + HOOK_EVENTS * hook_steps


def launches(apps: list[AppStep]) -> int:
    """The launch activities of a group's apps at most (workflows/ready.py): the batches of those ready at once, then
    batches only as an app that others of the group wait for becomes healthy, once per such app at most, each time
    batches of which any two in a row hold more than BATCH_MACHINES machines (and never more than one per app)."""
    members = {a.app for a in apps}
    first = {a.app: len(a.machines) for a in apps if not members.intersection(a.depends_on)}
    later = [a for a in apps if a.app not in first]
    awaited = {d for a in later for d in a.depends_on if d in members}
    machines = sum(len(a.machines) for a in later)
    return len(batches(first, BATCH_MACHINES)) + min(len(later), len(awaited) + -(-2 * machines // BATCH_MACHINES))


def fits_inline(inp: GroupInput) -> bool:
    """Whether this workflow may recover the group itself and keep its history under INLINE_GROUP_HISTORY."""
    return workflow.info().get_current_history_length() + history_estimate(inp) < INLINE_GROUP_HISTORY


class GroupRecovery(AppRecovery):
    """A group's recovery on `op`'s timeline: before hooks, its apps as they become ready, after hooks.

    Its batches run in `op` while its history is under `inline_history`, then in RecoverApps children named under
    `children` (`<children>/batch1`).
    """

    def __init__(self, op: Operator, inp: GroupInput, children: str) -> None:
        super().__init__(op, inp)
        self._prefix = children
        self._batches = asyncio.Semaphore(MAX_PARALLEL_BATCHES)
        self._children = 0

    async def run(self) -> list[AppOutcome]:
        """Every app of the stage; on failure (or cancel) the owner hears first which apps now serve."""
        stage = self._step.stage
        try:
            await self.hooks(stage.before)
            if workflow.patched(BATCHED):
                outcomes = await recover_when_ready(stage, self._ready_batch, self.plain)
            else:
                outcomes = await self._in_waves(stage)
            await self.hooks(stage.after)
        except GeneratorExit:
            # Evicted from this worker, the coroutine is collected outside the workflow's loop: nothing to report.
            raise
        except BaseException:
            await self.report_recovered()
            raise
        return outcomes

    async def _in_waves(self, stage: GroupStage) -> list[AppOutcome]:
        outcomes: list[AppOutcome] = []
        for number, wave in enumerate(stage.waves, 1):
            if len(wave.apps) <= BATCH_APPS:
                outcomes += await asyncio.gather(*(self.recover(app) for app in wave.apps))
            else:
                outcomes += await self._in_batches(number, wave)
        return outcomes

    async def _ready_batch(self, apps: list[AppStep], healthy: Callable[[str], None],
                           after: dict[str, list[str]]) -> list[AppOutcome]:
        """A batch inline while the history is small; past `inline_history` events, in a child of its own."""
        if workflow.info().get_current_history_length() < self._inp.inline_history:
            return await self.recover_batch(apps, healthy, after)
        self._children += 1
        name, summary = f"batch{self._children}", f"recover {len(apps)} apps of group {self._step.stage.group}"
        result = await self._batch(name, apps, summary, f"batch {self._children}: {len(apps)} apps", after)
        for outcome in result.apps:
            healthy(outcome.app)
        return result.apps

    async def _in_batches(self, number: int, wave: Wave) -> list[AppOutcome]:
        chunks = [wave.apps[i:i + BATCH_APPS] for i in range(0, len(wave.apps), BATCH_APPS)]
        group = self._step.stage.group
        results = await asyncio.gather(*(
            self._batch(f"wave{number}-batch{index}", chunk,
                        f"recover {len(chunk)} apps of group {group}, wave {number}",
                        f"wave {number} batch {index}: {len(chunk)} apps")
            for index, chunk in enumerate(chunks, 1)))
        return [outcome for result in results for outcome in result.apps]

    async def _batch(self, name: str, apps: list[AppStep], summary: str, label: str,
                     after: dict[str, list[str]] | None = None) -> GroupResult:
        inp, names, progress = self._inp, [a.app for a in apps], self._op._progress
        stage = GroupStage(group=inp.step.stage.group, waves=[Wave(apps=apps)])
        child = inp.model_copy(update={
            "runbook": runbook_slice(inp.runbook, names), "batch": True, "after": after or {},
            "step": inp.step.model_copy(update={"stage": stage}),
            "machine_index": {m: inp.machine_index[m] for a in names for m in inp.runbook.apps[a].machines},
        })
        async with self._batches:
            started = workflow.now()
            result = await workflow.execute_child_workflow(
                RecoverAppsWorkflow.run, child, id=f"{self._prefix}/{name}", static_summary=summary)
        progress.steps += keep_steps(result.steps, label, started, workflow.now())
        progress.gates += result.gates
        # The batch's apps are this group's to report now, with its own.
        self.recovered += result.recovered
        return result


async def inline_group(op: Operator, inp: GroupInput) -> GroupResult:
    """The group recovered in `op`, the operation: its prompts and gates are the operation's own, its steps on the
    operation's timeline (once it recovered, as many as a child's would be: a summary past MAX_COPIED_STEPS), and its
    batches past INLINE_GROUP_HISTORY go on in children named as the group child's (`<op>/<group>/batch1`)."""
    group, steps, started = inp.step.stage.group, op._progress.steps, workflow.now()
    first = len(steps)
    recovery = GroupRecovery(op, inp.model_copy(update={"inline_history": INLINE_GROUP_HISTORY}),
                             f"{workflow.info().workflow_id}/{group}")
    outcomes = await recovery.run()
    steps[first:] = keep_steps(steps[first:], f"group {group}: {len(outcomes)} apps", started, workflow.now(), "")
    return GroupResult(group=group, apps=outcomes[:MAX_RESULT_APPS], apps_total=len(outcomes), steps=[],
                       recovered=recovery.reportable())


class _RecoveryWorkflow(Operator):
    """A child workflow that recovers apps for its parent, on its own timeline."""

    def _open(self, inp: GroupInput) -> None:
        self._start_progress(inp.runbook.runbook, inp.operation)
        self._guard(inp.runbook)

    def _result(self, inp: GroupInput, outcomes: list[AppOutcome], recovered: list[str]) -> GroupResult:
        self._progress.state = "done"
        return GroupResult(group=inp.step.stage.group, apps=outcomes[:MAX_RESULT_APPS], apps_total=len(outcomes),
                           steps=self._progress.steps, gates=self._progress.gates, recovered=recovered)


@workflow.defn(name="RecoverGroup")
class RecoverGroupWorkflow(_RecoveryWorkflow):
    """Recover the apps of one group at the target site: the stage of the plan its input carries."""

    @workflow.init
    def __init__(self, inp: GroupInput) -> None:
        self._open(inp)
        self._recovery = GroupRecovery(self, inp, workflow.info().workflow_id)

    @workflow.run
    async def run(self, inp: GroupInput) -> GroupResult:
        """Before hooks, waves of apps (inline or in batches), after hooks."""
        outcomes = await self._recovery.run()
        return self._result(inp, outcomes, await self._recovery.hand_over())


@workflow.defn(name="RecoverApps")
class RecoverAppsWorkflow(_RecoveryWorkflow):
    """Recover a batch of apps that do not depend on each other: one launch activity for all their machines."""

    @workflow.init
    def __init__(self, inp: GroupInput) -> None:
        self._open(inp)
        self._recovery = AppRecovery(self, inp)

    @workflow.run
    async def run(self, inp: GroupInput) -> GroupResult:
        """Each app: hooks, launch, health, identity."""
        steps = [app for wave in inp.step.stage.waves for app in wave.apps]
        try:
            if workflow.patched(BATCHED):
                outcomes = await self._recovery.recover_batch(steps, lambda _: None, inp.after)
            else:
                outcomes = list(await asyncio.gather(*(self._recovery.recover(step) for step in steps)))
        except BaseException:
            await self._recovery.report_recovered()
            raise
        return self._result(inp, outcomes, await self._recovery.hand_over())
