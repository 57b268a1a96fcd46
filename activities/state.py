"""The one-time import of a runbook's state from the JSON file earlier versions kept in a worker's folder.

The runbook's owner workflow holds its truth now; a worker's disk holds nothing an operation depends on.
"""

from pathlib import Path

from temporalio import activity

from standby.contracts import names
from standby.contracts.state import LegacyState


class LegacyStateImport:
    """Reads, then retires, `<state>/runbooks/<runbook>/state.json` of earlier versions."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir

    @activity.defn(name=names.IMPORT_LEGACY_STATE)
    async def import_legacy_state(self, runbook: str) -> LegacyState | None:
        """The old state of a runbook, once: the file is renamed so a later owner never imports it again."""
        path = self.state_dir / "runbooks" / runbook / "state.json"
        if not path.is_file():
            return None
        state = LegacyState.model_validate_json(path.read_text())
        path.rename(path.with_name("state.json.imported"))
        return state
