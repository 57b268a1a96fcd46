"""How the CLI shows protection, operations and their steps (rich tables, plain lines when piped)."""

from collections.abc import Iterable
from datetime import timedelta

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from standby import lifecycle
from standby.contracts.gates import NO_DIRECTORY, GateRecord, summary
from standby.contracts.operations import Progress, StepRecord
from standby.contracts.protect import OwnerStatus
from standby.contracts.sites import MachineReplication
from standby.durations import format_duration
from standby.executions import Execution
from standby.monitor_view import monitor_view

_MARK = {"done": "ok", "failed": "FAILED", "cancelled": "cancelled", "running": "...", "skipped": "skipped",
         "refused": "REFUSED"}


def step_line(step: StepRecord) -> str:
    """`[ok] launch db on dr (3.2s): from point ...`."""
    took = f" ({(step.ended - step.started).total_seconds():.1f}s)" if step.ended else ""
    detail = f": {step.detail}" if step.detail else ""
    return f"[{_MARK.get(step.status, step.status)}] {step.name}{took}{detail}"


def waiting_hint(progress: Progress, ident: str) -> str:
    """What the operation waits for, and the command that answers it."""
    if progress.awaiting_approval:
        return f"waiting for approval by {progress.approval_by}: `standby approve {ident}`"
    if progress.prompt:
        return f"waiting at prompt \"{progress.prompt}\": `standby continue {ident}`"
    return ""


def reason(error: BaseException) -> str:
    """The innermost message of a chain of workflow, child and activity errors."""
    while error.__cause__ is not None:
        error = error.__cause__
    # An ApplicationError's str() puts its type in front ("ValueError: ..."); the message alone reads better.
    return getattr(error, "message", None) or str(error) or type(error).__name__


def workflow_table(rows: Iterable[Execution]) -> Table:
    """Standby workflows: ID, status, the State search attribute, start time."""
    table = Table("workflow", "status", "state", "started")
    for row in rows:
        table.add_row(row.id, row.status, row.state,
                      row.start_time.strftime("%Y-%m-%d %H:%M:%S") if row.start_time else "")
    return table


def owner_view(status: OwnerStatus) -> Group:
    """A runbook's apps (phase, where each serves, its replication), then each machine's replication."""
    truth = status.truth
    busy = truth.operation
    title = (f"runbook {truth.runbook}: epoch {truth.epoch}, "
             + ("protecting" if truth.protecting else "not protecting")
             + (f", running {busy.operation} ({busy.workflow_id}) "
                + (summary(busy.gates) if busy.gates else f"for {busy.requested_by}") if busy else ""))
    apps = Table("app", "state", "serving", "replication", "next", title=title)
    for name, state in truth.apps.items():
        apps.add_row(name, lifecycle.describe(state), state.serving or "down", state.direction(),
                     f"standby {lifecycle.fitting(state)}")
    machines = Table("machine", "phase", "lag", "latest point", "points", "changed (round/total)",
                     "sent (round/total)", "detail")
    for m in status.machines:
        point = m.latest_point.strftime("%Y-%m-%d %H:%M:%S") if m.latest_point else "-"
        machines.add_row(m.machine, m.phase, format_duration_seconds(m.lag_seconds), point, str(m.points),
                         *transfer_cells(m), m.detail)
    drill = truth.last_drill
    last = (f"last drill: {'passed' if drill.passed else 'failed'} at {drill.time:%Y-%m-%d %H:%M:%S}Z"
            f" ({', '.join(drill.apps)}{', forced' if drill.forced else ''})" if drill else "never drilled")
    monitor = monitor_view(status.monitor) if status.monitor else []
    return Group(apps, machines, Text(last), *(Text(entry) for entry in truth.history[-5:]), *monitor)


def transfer_cells(machine: MachineReplication) -> tuple[str, str]:
    """`12.0 KB/3.1 MB` for the bytes changed, then for the bytes sent: the last round's, then every round's."""
    def both(field: str) -> str:
        return "/".join(format_bytes(getattr(count, field)) if count else "-"
                        for count in (machine.last_round, machine.total))
    return both("changed_bytes"), both("sent_bytes")


def format_bytes(count: int) -> str:
    """`812 B`, `12.0 KB`, `3.1 MB`, `1.2 GB` (powers of 1000)."""
    if count < 1000:
        return f"{count} B"
    size = float(count)
    for unit in ("KB", "MB", "GB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} TB"


def format_duration_seconds(seconds: float | None) -> str:
    """`0.4s`, `3m20s`, or `-`."""
    if seconds is None:
        return "-"
    return f"{seconds:.1f}s" if seconds < 60 else format_duration(timedelta(seconds=seconds))


def progress_view(progress: Progress) -> Group:
    """An operation's groups and apps as progress bars, then its timeline."""
    done_groups = sum(state == "recovered" for state in progress.groups.values())
    done_apps = sum(state == "recovered" for state in progress.apps.values())
    bars = Table.grid(padding=(0, 1))
    bars.add_row("groups", ProgressBar(total=max(len(progress.groups), 1), completed=done_groups, width=30),
                 f"{done_groups}/{len(progress.groups)} recovered")
    bars.add_row("apps", ProgressBar(total=max(len(progress.apps), 1), completed=done_apps, width=30),
                 f"{done_apps}/{len(progress.apps)} recovered of those started")
    for group, state in progress.groups.items():
        bars.add_row(f"  {group}", "", state)
    table = Table("step", "status", "took", "detail",
                  title=f"{progress.operation} of {progress.runbook}: {progress.state}")
    for step in progress.steps:
        took = f"{(step.ended - step.started).total_seconds():.1f}s" if step.ended else ""
        table.add_row(step.name, _MARK.get(step.status, step.status), took, step.detail)
    hint = waiting_hint(progress, f"{progress.runbook}/{progress.operation}")
    return Group(bars, table, *([gate_table(progress.gates)] if progress.gates else []), *([hint] if hint else []))


def gate_table(records: list[GateRecord]) -> Table:
    """Who acted at each gate, allowed or refused: when, proven or not, from which client, why."""
    table = Table("at", "gate", "by", "outcome", "proven", "client", "why", title="operator actions")
    for r in records:
        table.add_row(f"{r.at:%Y-%m-%d %H:%M:%S}Z" if r.at else "", r.gate, r.by,
                      "allowed" if r.allowed else "REFUSED", "directory" if r.verified else "no",
                      r.client, r.reason or ("" if r.verified else NO_DIRECTORY))
    return table
