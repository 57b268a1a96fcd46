"""Drill schedules: one Temporal Schedule per runbook that starts a `ScheduledDrill` at a fixed interval.

The Temporal UI lists them on its Schedules page. A run that would overlap the one still running is
skipped, and a run missed while the server was down is made up only within CATCHUP (a drill in the
middle of the working day, hours late, is worse than the next one on time).
"""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from standby.config import Settings
from standby.contracts import attributes
from standby.contracts.programme import ScheduledDrillInput
from standby.durations import format_duration

CATCHUP = timedelta(hours=1)
DAY = timedelta(days=1)


class ScheduleError(ValueError):
    """A schedule that cannot be made or found; the message says why and what to do."""


class ScheduleRow(BaseModel):
    """A drill schedule as `standby schedule list` shows it."""

    id: str
    runbook: str
    every: str
    at: str | None = None
    only: list[str] = []
    keep_for: str | None = None
    paused: bool = False
    note: str = ""
    next_runs: list[datetime] = []
    runs: int = 0
    skipped_overlapping: int = 0
    last_run: str | None = None
    last_started: datetime | None = None


def schedule_id(runbook: str) -> str:
    """`standby/<runbook>/drill-schedule`: a runbook has one drill schedule."""
    return f"standby/{runbook}/drill-schedule"


def parse_at(text: str) -> timedelta:
    """`02:00` (UTC) as the time since midnight; ScheduleError for anything else."""
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60 and len(minutes) == 2):
        raise ScheduleError(f"--at '{text}' is not a time of day; write HH:MM in UTC, e.g. 02:00")
    return timedelta(hours=int(hours), minutes=int(minutes))


def spec(every: timedelta, at: timedelta | None = None) -> ScheduleSpec:
    """Every `every` from the Unix epoch, shifted to `at` past midnight UTC (only for whole days)."""
    if every < timedelta(seconds=1):
        raise ScheduleError(f"--every {format_duration(every)} is too short; a drill schedule runs at most every 1s")
    if at is not None and every % DAY:
        raise ScheduleError(f"--at needs --every in whole days (e.g. 1d or 7d), not {format_duration(every)}")
    return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every, offset=at or timedelta(0))])


def build(settings: Settings, drill: ScheduledDrillInput, every: timedelta, at: timedelta | None = None) -> Schedule:
    """The schedule: a ScheduledDrill of the runbook on the workers' queue, overlapping runs skipped."""
    search = TypedSearchAttributes([SearchAttributePair(attributes.RUNBOOK, drill.runbook),
                                    SearchAttributePair(attributes.OPERATION, "scheduled_drill"),
                                    SearchAttributePair(attributes.MODE, "test")])
    scope = f" of {', '.join(drill.only)}" if drill.only else ""
    action = ScheduleActionStartWorkflow(
        "ScheduledDrill", drill, id=f"standby/{drill.runbook}/scheduled-drill", task_queue=settings.task_queue,
        typed_search_attributes=search, static_summary=f"scheduled drill{scope} of {drill.runbook}")
    return Schedule(action=action, spec=spec(every, at),
                    policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP),
                    state=ScheduleState(note=f"drill of {drill.runbook} every {format_duration(every)}"))


async def upsert(client: Client, settings: Settings, drill: ScheduledDrillInput, every: timedelta,
                 at: timedelta | None = None) -> str:
    """Create the runbook's drill schedule, or replace its spec and scope; `created` or `updated`."""
    schedule = build(settings, drill, every, at)
    try:
        await client.create_schedule(schedule_id(drill.runbook), schedule, search_attributes=TypedSearchAttributes(
            [SearchAttributePair(attributes.RUNBOOK, drill.runbook)]))
        return "created"
    except ScheduleAlreadyRunningError:
        pass

    def replace(current: ScheduleUpdateInput) -> ScheduleUpdate:
        # The paused state and its note stay as the operator left them.
        schedule.state = current.description.schedule.state
        return ScheduleUpdate(schedule=schedule)

    await client.get_schedule_handle(schedule_id(drill.runbook)).update(replace)
    return "updated"


async def rows(client: Client) -> list[ScheduleRow]:
    """Every Standby drill schedule of the namespace, by ID."""
    found = [s.id async for s in await client.list_schedules() if s.id.startswith("standby/")]
    listed = [await _row(client, ident) for ident in sorted(found)]
    return [row for row in listed if row is not None]


async def _row(client: Client, ident: str) -> ScheduleRow | None:
    try:
        described = await client.get_schedule_handle(ident).describe()
    except RPCError as error:
        # The listing is eventually consistent: a schedule deleted a moment ago is still in it.
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    drill = await _drill(client, described)
    interval = described.schedule.spec.intervals[0]
    recent = next((a.action for a in reversed(described.info.recent_actions)
                   if isinstance(a.action, ScheduleActionExecutionStartWorkflow)), None)
    started = described.info.recent_actions[-1].started_at if described.info.recent_actions else None
    return ScheduleRow(
        id=ident, runbook=drill.runbook, every=format_duration(interval.every),
        at=_clock(interval.offset) if interval.every % DAY == timedelta(0) and interval.offset else None,
        only=drill.only, keep_for=format_duration(drill.keep_for) if drill.keep_for is not None else None,
        paused=described.schedule.state.paused, note=described.schedule.state.note or "",
        next_runs=described.info.next_action_times[:3], runs=described.info.num_actions,
        skipped_overlapping=described.info.num_actions_skipped_overlap,
        last_run=await _run_status(client, recent.workflow_id) if recent else None, last_started=started,
    )


async def _drill(client: Client, described: ScheduleDescription) -> ScheduledDrillInput:
    action = described.schedule.action
    # A described schedule's action holds its arguments still encoded (the SDK cannot know their types).
    assert isinstance(action, ScheduleActionStartWorkflow)
    decoded = await client.data_converter.decode(list(action.args), [ScheduledDrillInput])
    drill = decoded[0]
    assert isinstance(drill, ScheduledDrillInput)
    return drill


async def _run_status(client: Client, workflow_id: str) -> str:
    described = await client.get_workflow_handle(workflow_id).describe()
    return f"{workflow_id}: {described.status.name.lower() if described.status else 'unknown'}"


def _clock(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


async def pause(client: Client, runbook: str, by: str) -> str:
    """Pause the runbook's drill schedule (no drill starts until resumed)."""
    await _on_schedule(client, runbook, lambda handle: handle.pause(note=f"paused by {by}"))
    return f"{schedule_id(runbook)}: paused"


async def resume(client: Client, runbook: str, by: str) -> str:
    """Resume the runbook's drill schedule."""
    await _on_schedule(client, runbook, lambda handle: handle.unpause(note=f"resumed by {by}"))
    return f"{schedule_id(runbook)}: resumed"


async def delete(client: Client, runbook: str) -> str:
    """Delete the runbook's drill schedule; a drill it started runs on."""
    await _on_schedule(client, runbook, lambda handle: handle.delete())
    return f"{schedule_id(runbook)}: deleted"


async def _on_schedule(client: Client, runbook: str, call: Callable[[ScheduleHandle], Awaitable[None]]) -> None:
    try:
        await call(client.get_schedule_handle(schedule_id(runbook)))
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise ScheduleError(f"runbook '{runbook}' has no drill schedule; list them with `standby schedule list`, "
                                f"make one with `standby schedule drill {runbook} --every 7d`") from None
        raise
