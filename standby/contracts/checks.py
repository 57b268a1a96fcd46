"""Health probes, connectivity checks and verified downloads: inputs, results, error types."""

from typing import Literal

from pydantic import BaseModel

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
