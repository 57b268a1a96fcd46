"""Every workflow type the worker runs, and the sandbox they run in."""

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

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

# The sandbox re-imports a workflow's module for every run it starts: for an operation that was five workflow classes
# defined again (about 30 ms of its first task, a third of a 100-machine failover's overhead). Standby's workflow
# modules pass through, as the core they import always did: the rules the sandbox would enforce at run time (no
# clocks, randomness or I/O) hold by tests/test_layout.py, which reads every import and call of workflows/.
RUNNER = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows"))
