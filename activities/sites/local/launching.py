"""Starting a local site's machines: never onto live data, and counted only when the process started holds the port.

A launch keeps the pid record of the process it started beside its target record, keyed by the
operation's key: a retry with that key finds its own process; any other process on the machine's
data folder or port is refused, never adopted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from activities.environment import child_environment
from activities.sites.local import endpoint, fencing, processes, replication, serving
from standby import templates
from standby.contracts.local_layout import Layout
from standby.contracts.sites import AppInput, AppRef, LaunchInput, MachineRef, SiteRef, Target
from standby.runbook import LocalSite

START_SECONDS = 30.0


@dataclass(frozen=True)
class Files:
    """Where one machine process keeps its data, pid file and log."""

    data: Path
    pid: Path
    log: Path


@contextlib.contextmanager
def exclusive(record: Path) -> Iterator[None]:
    """Serializes the tries of one launch: a retry can overlap its first try (a worker that missed its heartbeat)."""
    record.parent.mkdir(parents=True, exist_ok=True)
    with open(record.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class Launcher:
    """Launches and starts the machines of one site."""

    def __init__(self, layout: Layout, site: SiteRef, config: LocalSite):
        """`layout` knows the folders of the sites involved (the launch's source too)."""
        self.layout, self.site, self.config = layout, site, config

    def launch(self, inp: LaunchInput) -> Target:
        """Restores the point once per key (refused onto a folder in use), then starts or finds the key's process."""
        if inp.mode == "recovery":
            self._admit(inp.app.name, inp.epoch, [inp.source.name, self.site.name])
        record = self.layout.target(self.site.name, inp.key, inp.machine.name)
        own = self.layout.target_pid(self.site.name, inp.key, inp.machine.name)
        target, files = self._target(inp), self._files(inp)
        with exclusive(record):
            # The folder is checked once per launch, right before the first thing that would land on it.
            restored = not record.exists()
            if restored:
                self._refuse_in_use(inp.app, inp.machine, files.data, target.port or 0, "restore into")
                self._restore(inp, files.data)
                record.write_text(target.model_dump_json())
            return self._run(inp.app, inp.machine, target, files, self._endpoints(inp), inp.key, own,
                             checked=restored)

    def _endpoints(self, inp: LaunchInput) -> dict[str, int]:
        """Where the machine reaches its peers: in a drill given their places, their drill targets on this site."""
        if inp.mode == "test" and inp.places:
            base = self.config.test_ports_from()
            return {app: base + place for app, place in inp.places.items()}
        # Without places (a workflow that computed the drill ports itself), the endpoints it gave.
        return inp.endpoints

    def start_app(self, inp: AppInput) -> list[Target]:
        """Starts each machine from the site's own data; a process the site's pid file names is its own."""
        self._admit(inp.app.name, inp.epoch, [self.site.name])
        started = []
        for machine in inp.app.machines:
            target = Target(key="live", machine=machine.name, app=inp.app.name, site=self.site.name, mode="recovery",
                            target_id=f"{self.site.name}/{machine.name}", address="127.0.0.1",
                            port=self.config.port_base + machine.index)
            files = self._live_files(machine)
            started.append(self._run(inp.app, machine, target, files, inp.endpoints, "live", files.pid))
        return started

    def _admit(self, app: str, epoch: int, sites: list[str]) -> None:
        """Refuses an epoch older than the site's record or than the app's endpoint routes at these sites."""
        routes = endpoint.readable_routes([self.layout.route(site, app) for site in sites])
        floor = max((route.epoch for route in routes.values()), default=0)
        fencing.admit(self.layout.epoch(self.site.name, app), epoch, f"{app} at {self.site.name}", floor)

    def _target(self, inp: LaunchInput) -> Target:
        base = self.config.test_ports_from() if inp.mode == "test" else self.config.port_base
        return Target(key=inp.key, machine=inp.machine.name, app=inp.app.name, site=self.site.name, mode=inp.mode,
                      target_id=f"{self.site.name}/{inp.machine.name}", address="127.0.0.1",
                      port=base + inp.machine.index, point_id=inp.point.id if inp.point else None)

    def _files(self, inp: LaunchInput) -> Files:
        if inp.mode == "test":
            folder = self.layout.test_machine(self.site.name, inp.key, inp.machine.name)
            return Files(folder / "data", folder / "machine.pid", folder / "machine.log")
        return self._live_files(inp.machine)

    def _live_files(self, machine: MachineRef) -> Files:
        site = self.site.name
        return Files(self.layout.data(site, machine.name), self.layout.pid(site, machine.name),
                     self.layout.log(site, machine.name))

    def _refuse_in_use(self, app: AppRef, machine: MachineRef, data: Path, port: int, action: str) -> None:
        """Refused, naming the process, when anything uses the data folder or holds the port."""
        users = serving.in_use(data, port)
        if users:
            found = "; ".join(f"{user} is there ({user.how})" for user in users)
            raise serving.Refused(f"will not {action} the data folder {data} of {app.name}/{machine.name} at "
                                  f"{self.site.name}: {found}; stop {app.name} at {self.site.name} first")

    def _restore(self, inp: LaunchInput, data: Path) -> None:
        if inp.point is None:
            raise serving.Refused(f"no recovery point given to launch {inp.machine.name}")
        folder = self.layout.points(self.site.name, inp.machine.name) / inp.point.id
        if not folder.is_dir():
            raise serving.Refused(f"recovery point {inp.point.id} of {inp.machine.name} is gone")
        try:
            replication.restore_point(replication.RecoveryPoint(inp.point.time, folder), data)
        except replication.ReplicationError as error:
            raise processes.ProcessError(str(error)) from error

    def _run(self, app: AppRef, machine: MachineRef, target: Target, files: Files, endpoints: dict[str, int],
             key: str, own: Path, checked: bool = False) -> Target:
        """Finds the process `own` names, or starts one where nothing else runs; logs each real start."""
        port = target.port or 0
        pid = processes.running_pid(own)
        if pid is not None:
            serving.wait_serving(pid, port, START_SECONDS, lambda: processes.running_pid(own) == pid)
            return target.model_copy(update={"launched": False})
        other = processes.running_pid(files.pid)
        if other is not None:
            raise serving.Refused(f"{files.pid} names pid {other}, which this launch did not start; "
                                  f"stop {app.name} at {self.site.name} first")
        if not checked:
            self._refuse_in_use(app, machine, files.data, port, "start on")
        argv = self._argv(app, machine, port, files.data, endpoints)
        files.data.mkdir(parents=True, exist_ok=True)
        pid = processes.start_process(argv, pid_file=files.pid, log_file=files.log, env=child_environment())
        if own != files.pid:
            processes.copy_pid_file(files.pid, own)
        # Logged once the process exists, not once it listens: a worker that dies in between leaves a retry
        # that finds the process running and starts (and logs) nothing.
        with open(self.layout.launches(self.site.name), "a") as log:
            log.write(json.dumps({"key": key, "machine": machine.name, "mode": target.mode, "port": port}) + "\n")
        try:
            serving.wait_serving(pid, port, START_SECONDS, lambda: processes.running_pid(files.pid) == pid)
        except (serving.NotServing, serving.Refused) as error:
            # a process that does not serve its port must not stay on the data folder: a retry starts afresh
            processes.stop_process(files.pid, timeout=app.config.stop_timeout.total_seconds())
            raise type(error)(f"{app.name}/{machine.name} did not start: {error}; see {files.log}") from error
        return target

    def _argv(self, app: AppRef, machine: MachineRef, port: int, data: Path, endpoints: dict[str, int]) -> list[str]:
        if not app.config.start:
            raise serving.Refused(f"app {app.name} has no start argv")
        return self._render(app.config.start, app, machine, port, data, endpoints)

    def _render(self, argv: list[str], app: AppRef, machine: MachineRef, port: int, data: Path,
                endpoints: dict[str, int]) -> list[str]:
        context = {"runbook": self.site.runbook, "site": self.site.name, "app": app.name, "machine": machine.name,
                   "port": port, "data": str(data), "python": sys.executable, "endpoints": endpoints}
        try:
            return templates.render_argv(argv, context)
        except templates.TemplateFailed as error:
            # the same template fails the same way on every try: refused once, never retried
            raise serving.Refused(f"cannot start {app.name}/{machine.name}: {error}") from None
