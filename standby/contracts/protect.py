"""Input and status of the protect workflow."""

from datetime import datetime

from pydantic import BaseModel

from standby.contracts.sites import MachineReplication
from standby.contracts.state import RunbookState
from standby.runbook import Runbook


class ProtectInput(BaseModel):
    """The runbook to protect; `bring_up` starts its apps at the active site first."""

    runbook: Runbook
    bring_up: bool = True


class ProtectStatus(BaseModel):
    """What `standby status` shows of protection."""

    runbook: str
    state: RunbookState | None = None
    machines: list[MachineReplication] = []
    rounds: int = 0
    updated: datetime | None = None
    serving: dict[str, str] = {}
