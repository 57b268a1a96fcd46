"""What the demo does to the local sites from outside Standby: a worker per site, and a disaster that takes one.

It finds the processes through the pid files the local provider writes (`standby.contracts.local_layout`).
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from standby.config import Settings
from standby.contracts.local_layout import Layout, read_pid_file


class SiteWorker:
    """`python -m worker --site NAME`: the worker at one site, as a process of its own that a disaster can kill."""

    def __init__(self, settings: Settings, site: str):
        self.site, self.settings = site, settings
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the worker (again); its log goes to `<state>/demo/worker-<site>.log`."""
        env = {**os.environ, "TEMPORAL_ADDRESS": self.settings.temporal_address,
               "TEMPORAL_NAMESPACE": self.settings.namespace, "STANDBY_TASK_QUEUE": self.settings.task_queue,
               "STANDBY_STATE": str(self.settings.state_dir)}
        logs = self.settings.state_dir / "demo"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"worker-{self.site}.log", "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "worker", "--site", self.site], env=env,
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def kill(self) -> None:
        """SIGKILL, as the site's power going would: no goodbye to Temporal."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM at the end of the demo, SIGKILL if it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def kill_site(layout: Layout, site: str) -> None:
    """SIGKILL every process of the site (its machines and its endpoint proxies), as a power cut would."""
    for pid_file in sorted(layout.site(site).rglob("*.pid")):
        process = _process(pid_file)
        if process is not None:
            process.kill()
            process.wait(timeout=5)
        pid_file.unlink(missing_ok=True)


def lose_disks(layout: Layout, site: str) -> Path:
    """The site's folder taken away (renamed aside, so a post-mortem can read it): nothing can replicate from it."""
    folder = layout.site(site)
    lost = folder.with_name(f"{folder.name}.lost-{int(time.time())}")
    folder.rename(lost)
    return lost


def stop_all(layout: Layout, timeout: float = 5) -> None:
    """Stop every process of the runbook and what it started: SIGTERM to all at once, then SIGKILL to those still
    there after `timeout` seconds (one after the other, a dozen processes that ignore SIGTERM took a minute)."""
    found = [(pid_file, _process(pid_file)) for pid_file in layout.root.rglob("*.pid")]
    _stop([process for _, process in found if process is not None], timeout)
    for pid_file, _ in found:
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


def _stop(processes: list[psutil.Process], timeout: float) -> None:
    family: list[psutil.Process] = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            family += [process, *process.children(recursive=True)]
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    _, alive = psutil.wait_procs(family, timeout=timeout)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(alive, timeout=5)
