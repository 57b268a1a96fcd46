"""What Standby remembers of a runbook between operations."""

from datetime import datetime

from pydantic import BaseModel


class RunbookState(BaseModel):
    """What Standby remembers of a runbook between operations."""

    runbook: str
    active: str
    replication_source: str
    replication_target: str
    replicating: bool = True
    fencing_token: int = 0
    last_drill_time: datetime | None = None
    last_drill_passed: bool | None = None
    last_drill_id: str | None = None


class StateUpdate(BaseModel):
    """Change some fields of a runbook's state; `fencing_token` may only grow."""

    runbook: str
    initial: RunbookState
    changes: dict[str, object] = {}
