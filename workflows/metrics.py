"""Operation durations and results, recorded by the operation itself through the SDK's metric meter.

Workflow code cannot touch a metrics library: a replayed history would count an operation again. The
SDK's workflow meter records nothing during replay, so each operation is counted once, by the worker that
ran its last task, and shows on the worker's SDK metrics endpoint next to the SDK's own metrics.
"""

from datetime import timedelta

from temporalio import workflow

DURATION = "standby_operation_duration_seconds"


def record_operation(runbook: str, operation: str, ended: str, took: timedelta) -> None:
    """One finished operation: its duration, with its result (`passed`, `failed_over`, `failed`, `cancelled`)."""
    result = ended.split(":", 1)[0]
    histogram = workflow.metric_meter().create_histogram_float(
        DURATION, "time from an operation's start to its end, by runbook, operation and result", "s")
    histogram.record(took.total_seconds(), {"runbook": runbook, "operation": operation, "result": result})
