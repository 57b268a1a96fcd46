"""Every workflow type the worker runs."""

from workflows.failback_client import FailbackClientWorkflow
from workflows.group import RecoverAppsWorkflow, RecoverGroupWorkflow
from workflows.operations import OPERATIONS
from workflows.owner import RunbookWorkflow
from workflows.points import RecoveryPointsWorkflow
from workflows.scheduled import ScheduledDrillWorkflow
from workflows.stop import StopAppsWorkflow

WORKFLOWS: list[type] = [RunbookWorkflow, *OPERATIONS.values(), RecoverGroupWorkflow, RecoverAppsWorkflow,
                         StopAppsWorkflow,
             FailbackClientWorkflow, ScheduledDrillWorkflow, RecoveryPointsWorkflow]
