"""Every workflow type the worker runs, and which one each operation starts."""

from workflows.failback_client import FailbackClientWorkflow
from workflows.group import RecoverAppsWorkflow, RecoverGroupWorkflow
from workflows.operations import (
    DrillWorkflow,
    FailbackWorkflow,
    FailoverWorkflow,
    ReturnToNormalWorkflow,
    SwitchoverWorkflow,
)
from workflows.protect import ProtectWorkflow
from workflows.stop import StopAppsWorkflow

OPERATIONS = {
    "drill": DrillWorkflow,
    "failover": FailoverWorkflow,
    "failback": FailbackWorkflow,
    "return": ReturnToNormalWorkflow,
    "switchover": SwitchoverWorkflow,
}

WORKFLOWS = [*OPERATIONS.values(), RecoverGroupWorkflow, RecoverAppsWorkflow, StopAppsWorkflow, ProtectWorkflow,
             FailbackClientWorkflow]
