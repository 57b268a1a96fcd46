"""The replication software's installer, run unattended on the machine being failed back.

    INSTALLER --region REGION --no-prompt --devices /dev/sda,/dev/sdb

The installation token goes to the installer's standard input, one `NAME=value` line each (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), then end of input: never into its arguments, which every user of
the host reads in `ps`, nor into its environment, which holds only the locale, the search path and the proxy
settings AWS's installers honour. An installer that takes its keys only as arguments gets them from a small
wrapper that reads its standard input. Output and errors go to one log beside the package, each attempt under its
own header; the exit code and the attempt's log both decide, and what a failure quotes of the log never holds the
token.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from datetime import UTC, datetime
from pathlib import Path

from activities.sites.aws.drs import heartbeat

# What the installer's environment keeps of the worker's: no credential, no Standby setting.
KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY")
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# A line where an installer reports failure, whatever its exit code says.
FAILURE = re.compile(r"^\s*(?:error|fatal)\b|installation (?:has )?failed", re.IGNORECASE)
TAIL_LINES = 5
BEAT_SECONDS = 5.0


def arguments(package: str, region: str, devices: list[str]) -> list[str]:
    """The installer's command line: nothing secret in it."""
    argv = [package, "--region", region, "--no-prompt"]
    return argv + (["--devices", ",".join(devices)] if devices else [])


def credentials(token: str) -> bytes:
    """The installer's standard input: the token `ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]` as `NAME=value` lines."""
    parts = token.strip().split(":", 2)
    return "".join(f"{name}={value}\n" for name, value in zip(CREDENTIALS, parts, strict=False)).encode()


def environment() -> dict[str, str]:
    """The installer's environment: the worker's locale, search path and proxies only."""
    return {name: os.environ[name] for name in KEEP if name in os.environ}


async def run(argv: list[str], stdin: bytes, log: Path, attempt: int) -> tuple[int, str]:
    """Run the installer to its end (killed with its process group on cancel); its exit code and this attempt's log."""
    with log.open("a", encoding="utf-8") as out:
        out.write(f"--- attempt {attempt}, {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}: {' '.join(argv)}\n")
    start = log.stat().st_size
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE, stdout=out,
                                                       stderr=asyncio.subprocess.STDOUT, cwd=log.parent,
                                                       env=environment(), start_new_session=True)
        await _feed(process, stdin)
        try:
            code = await _wait(process, argv[0])
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            raise
    with log.open("rb") as read:
        read.seek(start)
        return code, read.read().decode("utf-8", "replace")


async def _feed(process: asyncio.subprocess.Process, data: bytes) -> None:
    assert process.stdin is not None
    try:
        process.stdin.write(data)
        await process.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # an installer that exits before reading: its exit code says why
    finally:
        process.stdin.close()


async def _wait(process: asyncio.subprocess.Process, name: str) -> int:
    started = asyncio.get_running_loop().time()
    while True:
        try:
            return await asyncio.wait_for(process.wait(), BEAT_SECONDS)
        except TimeoutError:
            heartbeat(f"{Path(name).name} running for {asyncio.get_running_loop().time() - started:.0f}s")


def verdict(code: int, output: str, token: str) -> str | None:
    """Why this attempt failed (its exit code, or a failure its log reports, and the last lines); None if it did not."""
    lines = [line for line in output.splitlines() if line.strip()]
    failed = next((line for line in lines if FAILURE.search(line)), None)
    if code == 0 and failed is None:
        return None
    tail = " | ".join(redact(line, token) for line in lines[-TAIL_LINES:]) or "no output"
    why = f"exited {code}" if code else f"exited 0 but its log reports {redact(failed or '', token).strip()!r}"
    return f"{why}; last lines: {tail}"


def redact(text: str, token: str) -> str:
    """The text without any part of the token."""
    for part in sorted((p for p in token.strip().split(":") if len(p) >= 4), key=len, reverse=True):
        text = text.replace(part, "****")
    return text
