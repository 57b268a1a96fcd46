"""What performance rules read of an app on a local site: cpu, memory and disk of its processes, by psutil."""

from pathlib import Path

import psutil

from standby.contracts.local_layout import Layout, read_pid_file
from standby.contracts.sites import AppRef, SiteRef
from standby.runbook import LocalSite

MIB = 1024 * 1024


class ProcessMetrics:
    """Readings of apps' processes; keeps each psutil.Process, whose cpu_percent measures since its last call."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self._seen: dict[int, psutil.Process] = {}

    def read(self, site: SiteRef, app: AppRef) -> dict[str, float]:
        """cpu (percent of one core), memory (MiB resident) and disk (MiB of data) of an app's machines."""
        if not isinstance(site.config, LocalSite):
            return {}
        layout = Layout(self.state_dir, site.runbook)
        cpu = memory = disk = 0.0
        for machine in app.machines:
            for process in self._processes(layout.pid(site.name, machine.name)):
                try:
                    cpu += process.cpu_percent(None)
                    memory += process.memory_info().rss / MIB
                except psutil.Error:
                    continue  # it ended between the look-up and the reading
            disk += _size(layout.data(site.name, machine.name)) / MIB
        return {"cpu": round(cpu, 1), "memory": round(memory, 1), "disk": round(disk, 3)}

    def _processes(self, pid_file: Path) -> list[psutil.Process]:
        """The machine's process and its children (the app may run helpers)."""
        record = read_pid_file(pid_file)
        if record is None:
            return []
        process = self._seen.get(record.pid)
        try:
            if process is None or not process.is_running():
                process = self._seen[record.pid] = psutil.Process(record.pid)
            return [process, *(self._known(child) for child in process.children(recursive=True))]
        except psutil.Error:
            self._seen.pop(record.pid, None)
            return []

    def _known(self, child: psutil.Process) -> psutil.Process:
        return self._seen.setdefault(child.pid, child)


def _size(folder: Path) -> int:
    """Bytes of the files under a folder (0 when it is missing)."""
    total = 0
    for path in folder.rglob("*") if folder.is_dir() else []:
        try:
            total += path.stat().st_size if path.is_file() else 0
        except OSError:
            continue  # replaced while we walked
    return total
