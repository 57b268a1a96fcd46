"""What `standby status RUNBOOK` shows: the owner's truth and the replication of every machine."""

from datetime import datetime

from pydantic import BaseModel

from standby.contracts.monitor import MonitorState
from standby.contracts.sites import MachineReplication
from standby.contracts.state import RunbookTruth


class OwnerStatus(BaseModel):
    """The runbook's truth, the replication state of its machines, and how fresh that is."""

    truth: RunbookTruth
    machines: list[MachineReplication] = []
    rounds: int = 0
    updated: datetime | None = None
    monitor: MonitorState | None = None
