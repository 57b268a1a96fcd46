"""Event and activity counts of a workflow and of every child it started, recursively."""

from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client


@dataclass(frozen=True)
class HistoryCounts:
    """Per workflow ID: events in its history, and activities it completed."""

    events: dict[str, int]
    activities: dict[str, int]


async def history_counts(client: Client, workflow_id: str) -> HistoryCounts:
    """Counts for the workflow and all its descendants."""
    events: dict[str, int] = {}
    activities: dict[str, int] = {}
    pending = [workflow_id]
    while pending:
        current = pending.pop()
        history = await client.get_workflow_handle(current).fetch_history()
        events[current] = len(history.events)
        activities[current] = sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED for e in history.events)
        pending += [
            event.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
        ]
    return HistoryCounts(events, activities)


async def event_counts(client: Client, workflow_id: str) -> dict[str, int]:
    """Workflow ID -> number of history events, for the workflow and all its descendants."""
    return (await history_counts(client, workflow_id)).events
