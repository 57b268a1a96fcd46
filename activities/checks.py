"""Health probes (TCP, HTTP, command), connectivity checks and verified downloads."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import os
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
import urllib.response
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.hooks import heartbeating, run_command
from standby.contracts import names
from standby.contracts.checks import (
    BAD_CHECK,
    DOWNLOAD_FAILED,
    UNHEALTHY,
    UNREACHABLE,
    ConnectivityInput,
    ConnectivityResult,
    DownloadInput,
    DownloadResult,
    HealthInput,
    ProbeResult,
)
from standby.contracts.commands import CommandInput

CHUNK = 1024 * 1024


class BadCheckError(ValueError):
    """A health check that cannot run as written (a runbook error, not an unhealthy app)."""


def _hostport(host: str, port: int) -> str:
    """host:port, with IPv6 literals in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _reason(err: BaseException, timeout: float | None = None) -> str:
    """A short human reason for a failed connection."""
    if isinstance(err, (asyncio.TimeoutError, TimeoutError)):
        return "timed out" if timeout is None else f"timed out after {timeout:g}s"
    if isinstance(err, OSError) and err.errno and not isinstance(err, socket.gaierror):
        # asyncio replaces strerror with "Connect call failed (...)"; the errno still says why.
        return os.strerror(err.errno)
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__


async def _connect(host: str, port: int, timeout: float) -> None:
    """Open and close a TCP connection, raising on failure or timeout."""
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass  # the peer may reset a connection that sends nothing; it was reachable


async def _probe_tcp(inp: HealthInput) -> str:
    """Detail of a TCP probe that connected; raises when it cannot."""
    if inp.port is None:
        raise BadCheckError("a tcp health check needs a port")
    await _connect(inp.host, inp.port, inp.timeout_seconds)
    return f"connected to {_hostport(inp.host, inp.port)}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a redirect as the probed status instead of following it."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> None:
        """Never follow: the probe checks the endpoint it names, and urllib then raises the 3xx."""
        return None


# No proxy: a health probe must reach the recovered machine itself, whatever the worker's environment says.
_PROBE_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _http_status(url: str, timeout: float) -> int:
    """The HTTP status of a GET, error statuses included."""
    try:
        with _PROBE_OPENER.open(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


async def _probe_http(inp: HealthInput) -> str:
    """Detail of an HTTP probe with the expected status; raises otherwise."""
    url = f"http://{_hostport(inp.host, inp.port or 80)}{inp.path}"
    status = await asyncio.to_thread(_http_status, url, inp.timeout_seconds)
    if status != inp.expect_status:
        raise ConnectionError(f"GET {url} returned {status}, expected {inp.expect_status}")
    return f"GET {url} returned {status}"


async def _probe_command(inp: HealthInput) -> str:
    """Detail of a command probe that exited 0; raises otherwise."""
    if not inp.argv:
        raise BadCheckError("a command health check needs an argv")
    try:
        result = await run_command(CommandInput(argv=inp.argv, timeout_seconds=inp.timeout_seconds, label=inp.label))
    except OSError as err:
        raise BadCheckError(f"cannot start {inp.argv[0]}: {err.strerror or err}") from err
    output = (result.stderr.strip() or result.stdout.strip()).splitlines()
    last = f": {output[-1]}" if output else ""
    if result.timed_out:
        raise ConnectionError(f"{inp.argv[0]} timed out after {inp.timeout_seconds:g}s{last}")
    if result.exit_code != 0:
        raise ConnectionError(f"{inp.argv[0]} exited with code {result.exit_code}{last}")
    return f"{inp.argv[0]} exited 0{last}"


_PROBES = {"tcp": _probe_tcp, "http": _probe_http, "command": _probe_command}


async def probe(inp: HealthInput) -> ProbeResult:
    """Run one health probe; an unhealthy target is a result, a malformed check raises BadCheckError."""
    started = time.monotonic()
    run = _PROBES.get(inp.kind)
    if run is None:
        raise BadCheckError(f"unknown health check kind {inp.kind!r}")
    try:
        ok, detail = True, await run(inp)
    except BadCheckError:
        raise
    except (TimeoutError, OSError) as err:
        ok, detail = False, _reason(err, inp.timeout_seconds)
    return ProbeResult(ok=ok, detail=detail, duration_seconds=round(time.monotonic() - started, 3))


@activity.defn(name=names.CHECK_HEALTH)
async def check_health(inp: HealthInput) -> ProbeResult:
    """Probe once; unhealthy is a retryable failure so the caller's policy waits for health."""
    name = inp.label or inp.kind
    try:
        result = await probe(inp)
    except BadCheckError as err:
        raise ApplicationError(f"health check {name} cannot run: {err}", type=BAD_CHECK, non_retryable=True) from None
    if not result.ok:
        raise ApplicationError(f"health check failed: {name}: {result.detail}", result, type=UNHEALTHY)
    return result


@activity.defn(name=names.CHECK_CONNECTIVITY)
async def check_connectivity(inp: ConnectivityInput) -> ConnectivityResult:
    """Open a TCP connection to inp.host:inp.port; failure is retryable until the caller's deadline."""
    started = time.monotonic()
    try:
        await _connect(inp.host, inp.port, inp.timeout_seconds)
    except (TimeoutError, OSError) as err:
        reason, where = _reason(err, inp.timeout_seconds), _hostport(inp.host, inp.port)
        # `from None`: the message already says why, and callers read the innermost cause of a failure.
        raise ApplicationError(f"cannot reach {inp.purpose} at {where}: {reason}", type=UNREACHABLE) from None
    return ConnectivityResult(host=inp.host, port=inp.port, duration_seconds=round(time.monotonic() - started, 3))


class _Stopped(Exception):
    """The activity was cancelled while its download thread was still running."""


class ChecksumMismatch(Exception):
    """A download whose sha256 is not the expected one: retried, the mirror may be mid-update."""


@dataclass
class _Progress:
    """Bytes written so far, shared with the heartbeat."""

    size: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


def _existing(path: Path, sha256: str | None) -> DownloadResult | None:
    """The file already at path when it has the expected sha256; downloads are idempotent."""
    if sha256 is None or not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != sha256.lower():
        return None
    return DownloadResult(path=str(path), size=path.stat().st_size, sha256=digest.hexdigest())


def _copy(response: urllib.response.addinfourl, out: BinaryIO, progress: _Progress) -> str:
    """Copy the body into out, returning its sha256; raises when cancelled or truncated."""
    digest = hashlib.sha256()
    while chunk := response.read(CHUNK):
        if progress.stop.is_set():
            raise _Stopped()
        out.write(chunk)
        digest.update(chunk)
        progress.size += len(chunk)
    expected = response.headers.get("Content-Length")
    if expected is not None and int(expected) != progress.size:
        raise ConnectionError(f"truncated: got {progress.size} of {expected} bytes")
    return digest.hexdigest()


def _fetch(inp: DownloadInput, progress: _Progress) -> DownloadResult:
    """Download into a temporary file beside dest, verify, then rename it into place."""
    dest = Path(inp.dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(inp.url, timeout=inp.timeout_seconds) as response:
            sha256 = _copy(response, out, progress)
            out.flush()
            os.fsync(out.fileno())
        if inp.sha256 is not None and sha256 != inp.sha256.lower():
            raise ChecksumMismatch(f"sha256 mismatch: expected {inp.sha256.lower()}, got {sha256}")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return DownloadResult(path=str(dest), size=progress.size, sha256=sha256)


def _permanent(err: BaseException) -> bool:
    """Whether another try cannot help: a malformed URL, or a 4xx other than timeout or throttling."""
    if isinstance(err, urllib.error.HTTPError):
        return 400 <= err.code < 500 and err.code not in (408, 429)
    return isinstance(err, ValueError)


def _describe(err: BaseException) -> str:
    """A short reason for a failed download."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return _reason(err.reason) if isinstance(err.reason, BaseException) else str(err.reason)
    return _reason(err)


@activity.defn(name=names.DOWNLOAD)
async def download(inp: DownloadInput) -> DownloadResult:
    """Fetch inp.url into inp.dest atomically, verified and idempotent; failures retry unless permanent."""
    dest = Path(inp.dest)
    found = await asyncio.to_thread(_existing, dest, inp.sha256)
    if found is not None:
        return found
    progress = _Progress()
    try:
        return await heartbeating(
            asyncio.to_thread(_fetch, inp, progress),
            lambda elapsed: f"{inp.package}: {progress.size} bytes after {elapsed:.0f}s",
        )
    except (OSError, ValueError, ChecksumMismatch, http.client.HTTPException) as err:
        raise ApplicationError(
            f"download of {inp.package} from {inp.url} failed: {_describe(err)}",
            type=DOWNLOAD_FAILED,
            non_retryable=_permanent(err),
        ) from None
    finally:
        # A cancelled await leaves the thread running; this makes it stop and remove its temporary file.
        progress.stop.set()
