"""What the demo does to the local site from outside its provider: a disaster kills a site, the end stops the rest.

It finds the processes through the pid files the local provider writes (`standby.contracts.local_layout`).
"""

import contextlib
from pathlib import Path

import psutil

from standby.contracts.local_layout import Layout, read_pid_file


def kill_site(layout: Layout, site: str) -> None:
    """SIGKILL every machine process of the site, as a power cut would; wait until each is gone."""
    for pid_file in sorted(layout.site(site).rglob("machine.pid")):
        process = _process(pid_file)
        if process is not None:
            process.kill()
            process.wait(timeout=5)
        pid_file.unlink(missing_ok=True)


def stop_all(layout: Layout, timeout: float = 5) -> None:
    """Stop every process of the runbook and what it started: SIGTERM, then SIGKILL after `timeout` seconds."""
    for pid_file in layout.root.rglob("*.pid"):
        process = _process(pid_file)
        if process is not None:
            _stop(process, timeout)
        pid_file.unlink(missing_ok=True)


def _process(pid_file: Path) -> psutil.Process | None:
    """The live process a pid file names; None when it ended or its pid now runs another program."""
    record = read_pid_file(pid_file)
    if record is None:
        return None
    try:
        process = psutil.Process(record.pid)
        if process.status() != psutil.STATUS_ZOMBIE and process.cmdline() == list(record.argv):
            return process
    except psutil.Error:
        pass
    return None


def _stop(process: psutil.Process, timeout: float) -> None:
    try:
        family = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    _, alive = psutil.wait_procs(family, timeout=timeout)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(alive, timeout=5)
