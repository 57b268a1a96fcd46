"""Command steps: a hook as written in the runbook, the concrete command, and what it did."""

from pydantic import BaseModel

from standby.runbook import EnvValue

FAILED = "HookFailed"
TIMED_OUT = "HookTimedOut"
NOT_STARTED = "HookNotStarted"


class CommandInput(BaseModel):
    """One command step: an argv (never a shell string), extra environment, a timeout."""

    argv: list[str]
    env: dict[str, str] = {}
    timeout_seconds: float = 300
    cwd: str | None = None
    label: str = ""


class CommandResult(BaseModel):
    """What a command step did; stdout and stderr keep their last 64 KiB; a killed command has a negative exit code."""

    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    duration_seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """Whether the command exited 0 within its timeout."""
        return self.exit_code == 0 and not self.timed_out


class StepCommand(BaseModel):
    """A hook's argv and env as written in the runbook (a `from_env` value is read on the worker, never here),
    with the values its templates may use."""

    argv: list[str]
    env: dict[str, EnvValue] = {}
    context: dict[str, str] = {}
    timeout_seconds: float = 300
    label: str = ""
