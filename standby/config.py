"""Where Standby keeps state and how it reaches Temporal, from the environment."""

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

TASK_QUEUE = "standby"
PATIENCE_SECONDS = 60.0


class SettingsError(ValueError):
    """An environment variable holds a value Standby cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Settings shared by the CLI, the worker and the embedded server."""

    state_dir: Path
    temporal_address: str
    namespace: str
    task_queue: str
    ui_url: str
    patience: float = PATIENCE_SECONDS

    @classmethod
    def from_env(cls, state_dir: str | None = None) -> "Settings":
        """Settings from STANDBY_STATE, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, STANDBY_TASK_QUEUE, TEMPORAL_UI and
        STANDBY_CLIENT_PATIENCE (seconds a client keeps trying while the server does not answer)."""
        return cls(
            state_dir=Path(state_dir or os.environ.get("STANDBY_STATE", ".standby")).resolve(),
            temporal_address=os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"),
            namespace=os.environ.get("TEMPORAL_NAMESPACE", "default"),
            task_queue=os.environ.get("STANDBY_TASK_QUEUE", TASK_QUEUE),
            ui_url=os.environ.get("TEMPORAL_UI", "http://localhost:8233"),
            patience=_seconds("STANDBY_CLIENT_PATIENCE", PATIENCE_SECONDS),
        )

    def workflow_url(self, workflow_id: str, run_id: str | None = None) -> str:
        """The Temporal UI page of one workflow."""
        url = f"{self.ui_url}/namespaces/{self.namespace}/workflows/{quote(workflow_id, safe='')}"
        return f"{url}/{run_id}" if run_id else url


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name, "")
    if not text:
        return default
    try:
        if float(text) >= 0:
            return float(text)
    except ValueError:
        pass
    raise SettingsError(f"{name}={text!r} is not a number of seconds; set it to one (e.g. 60) or unset it")
