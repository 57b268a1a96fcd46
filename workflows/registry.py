"""Every workflow type the worker runs, and which one each operation starts."""

from workflows.drill import DrillWorkflow
from workflows.failback import FailbackWorkflow
from workflows.failback_client import FailbackClientWorkflow
from workflows.failover import FailoverWorkflow
from workflows.group import RecoverAppsWorkflow, RecoverGroupWorkflow
from workflows.protect import ProtectWorkflow
from workflows.return_to_normal import ReturnToNormalWorkflow
from workflows.stop import StopAppsWorkflow
from workflows.switchover import SwitchoverWorkflow

OPERATIONS = {
    "drill": DrillWorkflow,
    "failover": FailoverWorkflow,
    "failback": FailbackWorkflow,
    "return": ReturnToNormalWorkflow,
    "switchover": SwitchoverWorkflow,
}

WORKFLOWS = [*OPERATIONS.values(), RecoverGroupWorkflow, RecoverAppsWorkflow, StopAppsWorkflow, ProtectWorkflow, FailbackClientWorkflow]
