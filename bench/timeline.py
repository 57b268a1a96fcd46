"""Where a workflow's time goes: its activities (with the size of their stored input and result), children, signals
and slow workflow tasks, and its children's, on one clock that starts with the workflow (read from the histories, so
it shows what the server recorded)."""

from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

# Workflow tasks shorter than this are left off: what is left is where the workflow itself took time.
SLOW_TASK = 0.05


@dataclass
class _Reader:
    """One history's lines, on the clock of the first history read."""

    start: float
    lines: list[tuple[float, str]] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    activities: dict[int, list] = field(default_factory=dict)
    task: list[float] = field(default_factory=list)

    def at(self, event: HistoryEvent) -> float:
        return event.event_time.ToNanoseconds() / 1e9 - self.start

    def read(self, event: HistoryEvent) -> None:
        kind, at = event.event_type, self.at(event)
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            self.task = [at]
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            self.task.append(at)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and len(self.task) == 2:
            waited, ran = self.task[1] - self.task[0], at - self.task[1]
            if waited + ran >= SLOW_TASK:
                self.lines.append((self.task[0], f"workflow task: waited {waited:.3f} s, ran {ran:.3f} s"))
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled = event.activity_task_scheduled_event_attributes
            self.activities[event.event_id] = [name, at, at, at, scheduled.input.ByteSize(), 0]
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            self.activities[event.activity_task_started_event_attributes.scheduled_event_id][2] = at
        elif kind in (EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED):
            completed = kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
            done = (event.activity_task_completed_event_attributes if completed
                    else event.activity_task_failed_event_attributes)
            self.activities[done.scheduled_event_id][3] = at
            self.activities[done.scheduled_event_id][5] = (done.result if completed else done.failure).ByteSize()
        elif kind == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            child = event.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
            self.children.append(child)
            self.lines.append((at, f"child {child} started"))
        elif kind == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
            child = event.child_workflow_execution_completed_event_attributes.workflow_execution.workflow_id
            self.lines.append((at, f"child {child} completed"))
        elif kind == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
            self.lines.append((at, "signal sent"))
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            self.lines.append((at, "completed"))

    def activity_lines(self) -> list[tuple[float, str]]:
        return [(scheduled, f"{name}: queued {started - scheduled:.3f} s, ran {ended - started:.3f} s, "
                 f"ended at {ended:.3f}, in {sent / 1024:.1f} KiB, out {back / 1024:.1f} KiB")
                for name, scheduled, started, ended, sent, back in self.activities.values()]


async def timeline(client: Client, workflow_id: str) -> list[str]:
    """The workflow's and its descendants' lines, each history after its parent's, in time order within it."""
    out: list[str] = []
    pending, start = [workflow_id], None
    while pending:
        current = pending.pop(0)
        events = (await client.get_workflow_handle(current).fetch_history()).events
        start = start if start is not None else events[0].event_time.ToNanoseconds() / 1e9
        reader = _Reader(start)
        for event in events:
            reader.read(event)
        pending += reader.children
        out.append(f"{current}: {len(events)} events")
        out += [f"{at:8.3f}  {line}" for at, line in sorted(reader.lines + reader.activity_lines())]
    return out
