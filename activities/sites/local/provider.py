"""The `local` provider: real processes on 127.0.0.1, data folders replicated with rsync, endpoint proxies.

Every call is idempotent: a retried launch finds the record (and the live
process) its first try made, so nothing is launched twice.
"""

import asyncio
import fcntl
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from activities.sites.base import PermanentProviderError, ProviderError
from activities.sites.local import endpoint, processes, replication
from activities.sites.local.status import machine_state, record_direction, record_pass
from standby import templates
from standby.contracts.local_layout import Layout
from standby.contracts.sites import (
    AppInput,
    AppRef,
    DirectionInput,
    IdentityInput,
    LaunchInput,
    MachineRef,
    MachineReplication,
    PointsInput,
    RecoveryPoint,
    ReplicationInput,
    SiteRef,
    StopResult,
    Target,
    TerminateInput,
)
from standby.retention import RetentionPolicy, points_to_keep
from standby.runbook import LocalSite


class LocalSiteProvider:
    """One local site of one runbook: a folder under the state folder plus a port range on 127.0.0.1."""

    def __init__(self, site: SiteRef, state_dir: Path, clock: Callable[[], datetime] | None = None):
        """`clock` gives the time of passes, points and lag (tests pass a fixed one); default: UTC now."""
        if not isinstance(site.config, LocalSite):
            raise PermanentProviderError(f"site {site.name} is not a local site")
        self.site, self.config = site, site.config
        self.layout = Layout(state_dir, site.runbook)
        self.clock = clock or (lambda: datetime.now(UTC))

    def describe(self) -> str:
        """`site=dr, provider=local, ports=18200+`."""
        return f"site={self.site.name}, provider=local, ports={self.config.port_base}+"

    def _error(self, message: str, permanent: bool = False) -> ProviderError:
        cls = PermanentProviderError if permanent else ProviderError
        return cls(f"{message} [{self.describe()}]")

    async def replication(self, inp: ReplicationInput) -> list[MachineReplication]:
        """Each machine's state, from its points and its last pass record."""
        now = self.clock()
        return [machine_state(self.layout, inp.source.name, self.site.name, m, self._interval(inp), now)
                for m in inp.machines]

    async def replicate(self, inp: ReplicationInput) -> list[MachineReplication]:
        """Replication passes for `inp.seconds` (at least one), supervising endpoint proxies, heartbeating."""
        deadline = time.monotonic() + inp.seconds
        while True:
            await asyncio.to_thread(self._pass, inp)
            if time.monotonic() >= deadline:
                return await self.replication(inp)
            await asyncio.sleep(self._interval(inp))

    def _interval(self, inp: ReplicationInput) -> float:
        source = inp.source.config
        return source.replication_interval.total_seconds() if isinstance(source, LocalSite) else 1.0

    def _pass(self, inp: ReplicationInput) -> None:
        for app in inp.apps:
            self._supervise_endpoint(app)
        if not inp.copy_data:
            return
        policy = RetentionPolicy(**inp.retention.model_dump())
        for machine in inp.machines:
            self._replicate_machine(inp.source.name, machine.name, policy)

    def _replicate_machine(self, source: str, machine: str, policy: RetentionPolicy) -> None:
        data, points = self.layout.data(source, machine), self.layout.points(self.site.name, machine)
        now = self.clock()
        if not data.is_dir():
            record_pass(self.layout.last_pass(self.site.name, machine), now, source, error="source has no data yet")
            return
        points.mkdir(parents=True, exist_ok=True)
        try:
            result = replication.replicate_once(data, points, now)
        except replication.ReplicationError as error:
            record_pass(self.layout.last_pass(self.site.name, machine), now, source, error=str(error))
            return
        record_pass(self.layout.last_pass(self.site.name, machine), now, source, changed=result.changed)
        self._prune(points, now, policy)

    def _prune(self, points_dir: Path, now: datetime, policy: RetentionPolicy) -> None:
        existing = replication.list_points(points_dir)
        keep = points_to_keep([p.time for p in existing], now, policy)
        for point in existing:
            if point.time not in keep:
                replication.delete_point(point)

    def _supervise_endpoint(self, app: AppRef) -> None:
        """A dead proxy comes back within one replication pass."""
        if app.config.endpoint and app.config.endpoint.port:
            route = self.layout.endpoint(app.name)
            if route.exists():
                endpoint.ensure_proxy(app.config.endpoint.port, route, route.with_suffix(".pid"),
                                      route.with_suffix(".log"))

    async def recovery_points(self, inp: PointsInput) -> list[RecoveryPoint]:
        """Points replicated into this site for one machine, oldest first."""
        points = replication.list_points(self.layout.points(self.site.name, inp.machine.name))
        return [RecoveryPoint(id=p.path.name, time=p.time) for p in points]

    async def launch(self, inp: LaunchInput) -> Target:
        """Start a machine from a point: recovery on the site's ports, test on isolated ports from a copy."""
        return await asyncio.to_thread(self._launch, inp)

    def _launch(self, inp: LaunchInput) -> Target:
        record = self.layout.target(self.site.name, inp.key, inp.machine.name)
        target = self._target(inp)
        paths = self._paths(inp)
        record.parent.mkdir(parents=True, exist_ok=True)
        # a retry can overlap its first try (a worker that missed its heartbeat): one restore, one process
        with open(record.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not record.exists():
                self._restore(inp, paths["data"])
                record.write_text(target.model_dump_json())
            return self._run(inp.app, inp.machine, target, paths, self._endpoints(inp), inp.key)

    def _endpoints(self, inp: LaunchInput) -> dict[str, int]:
        """Where the machine reaches its peers: in a drill given their places, their drill targets on this site."""
        if inp.mode == "test" and inp.places:
            base = self.config.test_ports_from()
            return {app: base + place for app, place in inp.places.items()}
        # Without places (a workflow that computed the drill ports itself), the endpoints it gave.
        return inp.endpoints

    def _target(self, inp: LaunchInput) -> Target:
        base = self.config.test_ports_from() if inp.mode == "test" else self.config.port_base
        return Target(key=inp.key, machine=inp.machine.name, app=inp.app.name, site=self.site.name, mode=inp.mode,
                      target_id=f"{self.site.name}/{inp.machine.name}", address="127.0.0.1",
                      port=base + inp.machine.index, point_id=inp.point.id if inp.point else None)

    def _paths(self, inp: LaunchInput) -> dict[str, Path]:
        if inp.mode == "test":
            folder = self.layout.test_machine(self.site.name, inp.key, inp.machine.name)
            return {"data": folder / "data", "pid": folder / "machine.pid", "log": folder / "machine.log"}
        site, machine = self.site.name, inp.machine.name
        return {"data": self.layout.data(site, machine), "pid": self.layout.pid(site, machine),
                "log": self.layout.log(site, machine)}

    def _restore(self, inp: LaunchInput, data: Path) -> None:
        if inp.point is None:
            raise self._error(f"no recovery point given to launch {inp.machine.name}", permanent=True)
        folder = self.layout.points(self.site.name, inp.machine.name) / inp.point.id
        if not folder.is_dir():
            raise self._error(f"recovery point {inp.point.id} of {inp.machine.name} is gone", permanent=True)
        replication.restore_point(replication.RecoveryPoint(inp.point.time, folder), data)

    def _run(self, app: AppRef, machine: MachineRef, target: Target, paths: dict[str, Path],
             endpoints: dict[str, int], key: str) -> Target:
        """Start the machine's process unless it already runs; log each real start."""
        if processes.is_running(paths["pid"]):
            return target.model_copy(update={"launched": False})
        argv = self._argv(app, machine, target.port or 0, paths["data"], endpoints)
        paths["data"].mkdir(parents=True, exist_ok=True)
        try:
            processes.start_process(argv, pid_file=paths["pid"], log_file=paths["log"], env=dict(os.environ))
            # Logged once the process exists, not once it listens: a worker that dies in between leaves a retry
            # that finds the process running and starts (and logs) nothing.
            with open(self.layout.launches(self.site.name), "a") as log:
                entry = {"key": key, "machine": machine.name, "mode": target.mode, "port": target.port}
                log.write(json.dumps(entry) + "\n")
            processes.wait_for_port(target.port or 0, timeout=30)
        except (processes.ProcessError, TimeoutError) as error:
            raise self._error(f"{app.name}/{machine.name} did not start: {error}; see {paths['log']}") from error
        return target

    def _argv(self, app: AppRef, machine: MachineRef, port: int, data: Path, endpoints: dict[str, int]) -> list[str]:
        if not app.config.start:
            raise self._error(f"app {app.name} has no start argv", permanent=True)
        context = {"runbook": self.site.runbook, "site": self.site.name, "app": app.name, "machine": machine.name,
                   "port": port, "data": str(data), "python": sys.executable, "endpoints": endpoints}
        return templates.render_argv(app.config.start, context)

    async def start_app(self, inp: AppInput) -> list[Target]:
        """Start an app's machines from the site's own data folders."""
        started = []
        for machine in inp.app.machines:
            target = Target(key="live", machine=machine.name, app=inp.app.name, site=self.site.name, mode="recovery",
                            target_id=f"{self.site.name}/{machine.name}", address="127.0.0.1",
                            port=self.config.port_base + machine.index)
            paths = {"data": self.layout.data(self.site.name, machine.name),
                     "pid": self.layout.pid(self.site.name, machine.name),
                     "log": self.layout.log(self.site.name, machine.name)}
            started.append(await asyncio.to_thread(self._run, inp.app, machine, target, paths, inp.endpoints, "live"))
        return started

    async def stop_app(self, inp: AppInput) -> StopResult:
        """SIGTERM each machine, SIGKILL after the app's stop timeout."""
        timeout = inp.app.config.stop_timeout.total_seconds()
        outcome = {}
        for machine in inp.app.machines:
            try:
                pid_file = self.layout.pid(self.site.name, machine.name)
                outcome[machine.name] = await asyncio.to_thread(processes.stop_process, pid_file, timeout)
            except processes.ProcessError as error:
                raise self._error(f"cannot stop {inp.app.name}/{machine.name}: {error}") from error
        return StopResult(app=inp.app.name, site=self.site.name, outcome=outcome)

    async def terminate(self, inp: TerminateInput) -> list[str]:
        """Stop the targets of a key (or key prefix), newest first; drop test copies, never live data."""
        removed = []
        for folder in self._target_folders(inp):
            records = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
            for record in records:
                target = Target.model_validate_json(record.read_text())
                await asyncio.to_thread(self._terminate_one, target)
                record.unlink()
                removed.append(target.target_id)
            shutil.rmtree(folder, ignore_errors=True)
        return removed

    def _target_folders(self, inp: TerminateInput) -> list[Path]:
        root = self.layout.targets(self.site.name)
        if not root.is_dir():
            return []
        matches = []
        for folder in root.iterdir():
            keys = {Target.model_validate_json(r.read_text()).key for r in folder.glob("*.json")}
            if any(k == inp.key or (inp.prefix is not None and k.startswith(inp.prefix)) for k in keys):
                matches.append(folder)
        return matches

    def _terminate_one(self, target: Target) -> None:
        if target.mode == "test":
            folder = self.layout.test_machine(self.site.name, target.key, target.machine)
            processes.stop_process(folder / "machine.pid", timeout=10)
            shutil.rmtree(folder, ignore_errors=True)
        else:
            processes.stop_process(self.layout.pid(self.site.name, target.machine), timeout=10)

    async def set_direction(self, inp: DirectionInput) -> None:
        """Replication direction lives in the runbook's owner; the target site needs its folders, and a direction
        set to run counts only the passes made from now on."""
        now = self.clock()
        for machine in inp.machines:
            self.layout.machine(self.site.name, machine.name).mkdir(parents=True, exist_ok=True)
            if inp.running:
                record_direction(self.layout.last_pass(self.site.name, machine.name), now, inp.source.name)

    async def move_identity(self, inp: IdentityInput) -> str:
        """Switch the app's public endpoint to its machines on this site; old connections are closed."""
        spec = inp.app.config.endpoint
        if spec is None or spec.port is None:
            return f"{inp.app.name} has no public port"
        ports = [t.port for t in inp.targets if t.port] or [self.config.port_base + m.index for m in inp.app.machines]
        route = self.layout.endpoint(inp.app.name)
        await asyncio.to_thread(endpoint.move_endpoint, route, ports, 10.0)
        await asyncio.to_thread(endpoint.ensure_proxy, spec.port, route, route.with_suffix(".pid"),
                                route.with_suffix(".log"))
        return f"{spec.name} (127.0.0.1:{spec.port}) -> {self.site.name} 127.0.0.1:{','.join(map(str, ports))}"
