"""Health probes, connectivity checks and verified downloads: inputs, results, error types."""

from typing import Literal

from pydantic import BaseModel

from standby.contracts.sites import AppRef, Target
from standby.runbook import CommandHealth, HealthCheck, HttpHealth, TcpHealth

UNHEALTHY = "Unhealthy"
UNREACHABLE = "Unreachable"
DOWNLOAD_FAILED = "DownloadFailed"
BAD_CHECK = "BadCheck"


class HealthInput(BaseModel):
    """One health probe: a TCP connect, an HTTP status, or a command that must exit 0."""

    kind: Literal["tcp", "http", "command"]
    host: str = "127.0.0.1"
    port: int | None = None
    path: str = "/"
    expect_status: int = 200
    argv: list[str] = []
    timeout_seconds: float = 5
    label: str = ""


def health_input(app: AppRef, check: HealthCheck, target: Target) -> HealthInput:
    """The probe of one health check against one target; the check's kind decides the probe."""
    label = f"{app.name}/{target.machine}"
    if isinstance(check, TcpHealth):
        return HealthInput(kind="tcp", host=check.tcp.host or target.address or "127.0.0.1",
                           port=check.tcp.port or target.port, timeout_seconds=check.timeout.total_seconds(),
                           label=f"{label} tcp")
    if isinstance(check, HttpHealth):
        return HealthInput(kind="http", host=check.http.host or target.address or "127.0.0.1",
                           port=check.http.port or target.port, path=check.http.path,
                           expect_status=check.http.expect, timeout_seconds=check.timeout.total_seconds(),
                           label=f"{label} http")
    assert isinstance(check, CommandHealth)
    return HealthInput(kind="command", argv=list(check.command.run), timeout_seconds=check.timeout.total_seconds(),
                       label=f"{label} command")


class ProbeResult(BaseModel):
    """Whether a probe passed, why, and how long it took."""

    ok: bool
    detail: str
    duration_seconds: float


class ConnectivityInput(BaseModel):
    """A TCP endpoint that must be reachable, and what it is for (named in errors)."""

    host: str
    port: int
    purpose: str
    timeout_seconds: float = 5


class ConnectivityResult(BaseModel):
    """A reachable endpoint and how long the connection took."""

    host: str
    port: int
    duration_seconds: float


class DownloadInput(BaseModel):
    """A package to fetch into dest, verified against sha256 when given."""

    url: str
    dest: str
    package: str
    sha256: str | None = None
    timeout_seconds: float = 60


class DownloadResult(BaseModel):
    """The downloaded file, its size and its sha256."""

    path: str
    size: int
    sha256: str
