"""What Standby remembers of each runbook between operations: active site, replication direction, fencing token."""

import fcntl
import json
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from standby.contracts import names
from standby.contracts.state import RunbookState, StateUpdate


class StateStore:
    """One JSON file per runbook under the state folder, changed under a file lock."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir

    def path(self, runbook: str) -> Path:
        """The state file of a runbook."""
        return self.state_dir / "runbooks" / runbook / "state.json"

    def read(self, initial: RunbookState) -> RunbookState:
        """The stored state, or `initial` when the runbook has none yet."""
        path = self.path(initial.runbook)
        return RunbookState.model_validate_json(path.read_text()) if path.exists() else initial

    def update(self, change: StateUpdate) -> RunbookState:
        """Apply changes atomically; a fencing token never goes down."""
        path = self.path(change.runbook)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.read(change.initial)
            token = change.changes.get("fencing_token")
            if isinstance(token, int) and token <= current.fencing_token:
                raise ApplicationError(
                    f"fencing token {token} is not newer than {current.fencing_token} [runbook={change.runbook}]; "
                    "another operation took over",
                    type="Fenced",
                    non_retryable=True,
                )
            updated = RunbookState.model_validate({**current.model_dump(), **change.changes})
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(updated.model_dump(mode="json"), indent=2))
            temporary.replace(path)
            return updated

    @activity.defn(name=names.LOAD_STATE)
    async def load_state(self, initial: RunbookState) -> RunbookState:
        """The runbook's state as last recorded."""
        return self.read(initial)

    @activity.defn(name=names.UPDATE_STATE)
    async def update_state(self, change: StateUpdate) -> RunbookState:
        """Record a change of the runbook's state."""
        return self.update(change)
