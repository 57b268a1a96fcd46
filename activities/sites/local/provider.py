"""The `local` provider: real processes on 127.0.0.1, data folders replicated with rsync, endpoint proxies.

Every call is idempotent: a retried launch finds the record (and the live process) its first try
made, so nothing is launched twice. A site's files live in its own folder (`path:`), so the worker
of each site, whatever its state folder, finds the same machines, points and routes.
"""

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from activities.dns import identity as dns_identity
from activities.sites.base import PermanentProviderError, ProviderError
from activities.sites.local import endpoint, fencing, processes, replication, serving, strays
from activities.sites.local.launching import Launcher
from activities.sites.local.status import machine_state, record_direction, record_pass
from activities.sites.local.warm import WarmLauncher
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
    Transfer,
)
from standby.retention import RetentionPolicy, points_to_keep
from standby.runbook import LocalSite

log = logging.getLogger(__name__)


def site_layout(state_dir: Path, runbook: str, sites: list[SiteRef]) -> Layout:
    """The layout of a runbook's folders, with the folders of those sites that have a `path:` of their own."""
    paths = {ref.name: Path(ref.config.path) for ref in sites
             if isinstance(ref.config, LocalSite) and ref.config.path}
    return Layout(state_dir, runbook, paths)


class LocalSiteProvider:
    """One local site of one runbook: its folder (its `path:` or one under the state folder) and a port range."""

    def __init__(self, site: SiteRef, state_dir: Path, clock: Callable[[], datetime] | None = None):
        """`clock` gives the time of passes, points and lag (tests pass a fixed one); default: UTC now."""
        if not isinstance(site.config, LocalSite):
            raise PermanentProviderError(f"site {site.name} is not a local site")
        self.site, self.config, self.state_dir = site, site.config, state_dir
        self.layout = self._layout()
        self.clock = clock or (lambda: datetime.now(UTC))

    def _layout(self, *others: SiteRef) -> Layout:
        """This site's layout, knowing where the other sites of a call keep their folders."""
        return site_layout(self.state_dir, self.site.runbook, [self.site, *others])

    def describe(self) -> str:
        """`site=dr, provider=local, ports=18200+`."""
        return f"site={self.site.name}, provider=local, ports={self.config.port_base}+"

    def _error(self, message: str, permanent: bool = False) -> ProviderError:
        cls = PermanentProviderError if permanent else ProviderError
        return cls(f"{message} [{self.describe()}]")

    @contextlib.contextmanager
    def _mapped(self, what: str) -> Iterator[None]:
        """The local errors as provider errors, once: refusals and stale epochs for good, the rest to retry."""
        try:
            yield
        except (serving.Refused, fencing.StaleEpoch, endpoint.PortTaken) as error:
            raise self._error(f"{what}: {error}", permanent=True) from error
        except (processes.ProcessError, endpoint.EndpointError, serving.NotServing, OSError) as error:
            raise self._error(f"{what}: {error}") from error

    async def replication(self, inp: ReplicationInput) -> list[MachineReplication]:
        """Each machine's state, from its points and its last pass record, with the processes serving it here."""
        return await asyncio.to_thread(self._replication, inp)

    def _replication(self, inp: ReplicationInput) -> list[MachineReplication]:
        now, layout = self.clock(), self._layout(inp.source)
        # The source of a paused direction (failed over, failed back) serves nothing: an old active back there is
        # looked for too, on this host where every local site runs.
        paused_source = (not inp.copy_data and inp.source.name != self.site.name
                         and isinstance(inp.source.config, LocalSite))
        states = [machine_state(layout, inp.source.name, self.site.name, machine, self._interval(inp), now)
                  for machine in inp.machines]
        sites = [(self.site, True), *([(inp.source, False)] if paused_source else [])]
        return strays.with_servers(states, layout, sites, inp.machines)

    def _port(self, machine: MachineRef) -> int:
        return self.config.port_base + machine.index

    async def replicate(self, inp: ReplicationInput) -> list[MachineReplication]:
        """Replication passes for `inp.seconds` (at least one), supervising endpoint proxies, heartbeating.

        Each machine's state carries the bytes of this round's passes, beside those of every pass so far.
        """
        deadline = time.monotonic() + inp.seconds
        rounds: dict[str, Transfer] = {}
        while True:
            for machine, moved in (await asyncio.to_thread(self._pass, inp)).items():
                rounds[machine] = rounds.get(machine, Transfer()).plus(moved)
            if time.monotonic() >= deadline:
                states = await self.replication(inp)
                return [state.model_copy(update={"last_round": rounds.get(state.machine)}) for state in states]
            await asyncio.sleep(self._interval(inp))

    def _interval(self, inp: ReplicationInput) -> float:
        source = inp.source.config
        return source.replication_interval.total_seconds() if isinstance(source, LocalSite) else 1.0

    def _pass(self, inp: ReplicationInput) -> dict[str, Transfer]:
        """One pass of every machine; the bytes of each that copied."""
        layout = self._layout(inp.source)
        for app in inp.apps:
            self._supervise_endpoint(layout, app, inp.source.name)
        if not inp.copy_data:
            return {}
        policy = RetentionPolicy(**inp.retention.model_dump())
        moved = {machine.name: self._replicate_machine(layout, inp.source.name, machine.name, policy)
                 for machine in inp.machines}
        return {machine: count for machine, count in moved.items() if count is not None}

    def _replicate_machine(self, layout: Layout, source: str, machine: str,
                           policy: RetentionPolicy) -> Transfer | None:
        """One pass from the source site's data folder, wherever that site keeps it, into this site's points."""
        data, points = layout.data(source, machine), layout.points(self.site.name, machine)
        now, last_pass = self.clock(), layout.last_pass(self.site.name, machine)
        try:
            present = data.is_dir()
        except OSError as error:
            present, problem = False, f"source data {data} cannot be read: {error}"
        else:
            problem = "source has no data yet"
        if not present:
            record_pass(last_pass, now, source, error=problem)
            return None
        points.mkdir(parents=True, exist_ok=True)
        try:
            result = replication.replicate_once(data, points, now)
        except replication.ReplicationError as error:
            record_pass(last_pass, now, source, error=str(error))
            return None
        record_pass(last_pass, now, source, changed=result.changed, moved=result.moved)
        self._prune(points, now, policy)
        return result.moved

    def _prune(self, points_dir: Path, now: datetime, policy: RetentionPolicy) -> None:
        existing = replication.list_points(points_dir)
        keep = points_to_keep([p.time for p in existing], now, policy)
        for point in existing:
            if point.time not in keep:
                replication.delete_point(point)

    def _supervise_endpoint(self, layout: Layout, app: AppRef, source: str) -> None:
        """A dead proxy comes back within one replication pass, following the routes of both sites."""
        if not (app.config.endpoint and app.config.endpoint.port):
            return
        routes = [layout.route(source, app.name), layout.route(self.site.name, app.name)]
        if not endpoint.readable_routes(routes):
            return
        own = layout.route(self.site.name, app.name)
        try:
            endpoint.ensure_proxy(app.config.endpoint.port, routes, own.with_suffix(".pid"), own.with_suffix(".log"))
        except (endpoint.EndpointError, processes.ProcessError, OSError) as error:
            # supervision must not stop replication; the next pass tries again
            log.warning("cannot supervise the endpoint of %s [%s]: %s", app.name, self.describe(), error)

    async def recovery_points(self, inp: PointsInput) -> list[RecoveryPoint]:
        """Points replicated into this site for one machine, oldest first."""
        points = replication.list_points(self.layout.points(self.site.name, inp.machine.name))
        return [RecoveryPoint(id=p.path.name, time=p.time) for p in points]

    async def launch(self, inp: LaunchInput) -> Target:
        """Start a machine from a point: recovery on the site's ports, test on isolated ports from a copy."""
        with self._mapped(f"cannot launch {inp.app.name}/{inp.machine.name} at {self.site.name}"):
            return await asyncio.to_thread(Launcher(self._layout(inp.source), self.site, self.config).launch, inp)

    async def start_warm(self, inp: LaunchInput) -> Target:
        """Start a machine warm (standby.warm): on its port and data path, opening no data until promoted."""
        with self._mapped(f"cannot start {inp.app.name}/{inp.machine.name} warm at {self.site.name}"):
            return await asyncio.to_thread(WarmLauncher(self._layout(inp.source), self.site, self.config).start_warm,
                                           inp)

    async def promote(self, inp: LaunchInput) -> Target:
        """Restore the drained point under a machine's warm process, then tell it to open its data."""
        with self._mapped(f"cannot promote {inp.app.name}/{inp.machine.name} at {self.site.name}"):
            return await asyncio.to_thread(WarmLauncher(self._layout(inp.source), self.site, self.config).promote, inp)

    async def start_app(self, inp: AppInput) -> list[Target]:
        """Start an app's machines from the site's own data folders."""
        with self._mapped(f"cannot start {inp.app.name} at {self.site.name}"):
            return await asyncio.to_thread(Launcher(self.layout, self.site, self.config).start_app, inp)

    async def stop_app(self, inp: AppInput) -> StopResult:
        """SIGTERM each machine, SIGKILL after the app's stop timeout; processes Standby did not start as well.

        A pid file that cannot be read or a process that cannot be signalled is a retryable error, never
        "not running": the caller's deadline decides when to fence instead.
        """
        return await asyncio.to_thread(self._stop_app, inp)

    def _stop_app(self, inp: AppInput) -> StopResult:
        timeout = inp.app.config.stop_timeout.total_seconds()
        outcome, outside, problems = {}, {}, []
        for machine in inp.app.machines:
            outcome[machine.name], stopped, trouble = self._stop_machine(machine, timeout)
            if stopped:
                outside[machine.name] = stopped
            problems += [f"{inp.app.name}/{machine.name}: {problem}" for problem in trouble]
        if problems:
            done = "; ".join(f"{m}: {o}" for m, o in outcome.items())
            raise self._error(f"cannot be sure {inp.app.name} stopped at {self.site.name}: {'; '.join(problems)} "
                              f"(what was done: {done})")
        return StopResult(app=inp.app.name, site=self.site.name, outcome=outcome, outside=outside)

    def _stop_machine(self, machine: MachineRef, timeout: float) -> tuple[str, list[int], list[str]]:
        """Stops the pid file's process, then any other serving the machine; returns outcome, others, problems."""
        problems: list[str] = []
        try:
            outcome: str = processes.stop_process(self.layout.pid(self.site.name, machine.name), timeout)
        except processes.ProcessError as error:
            outcome, problems = "unknown", [str(error)]
        stopped = []
        for user in serving.servers(self.layout.data(self.site.name, machine.name), self._port(machine)):
            if user.pid is None:
                problems.append(f"{user} serves it and cannot be inspected")
                continue
            try:
                ended = processes.stop_pid(user.pid, timeout)
            except processes.ProcessError as error:
                problems.append(f"{user}, not started by Standby: {error}")
                continue
            stopped.append(user.pid)
            outcome = ended if outcome in ("not running", "unknown") else outcome
        return outcome, stopped, problems

    async def terminate(self, inp: TerminateInput) -> list[str]:
        """Stop the targets of a key (or key prefix; of some apps only), newest first; drop test copies, never live
        data."""
        removed = []
        for folder in self._target_folders(inp):
            records = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
            for record in records:
                target = Target.model_validate_json(record.read_text())
                if inp.apps is not None and target.app not in inp.apps:
                    continue
                await asyncio.to_thread(self._terminate_one, target, record.with_suffix(".pid"))
                record.unlink()
                removed.append(target.target_id)
            if not any(folder.glob("*.json")):
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

    def _terminate_one(self, target: Target, own: Path) -> None:
        """Stops the process the launch started (its own record), never one a later operation started."""
        processes.stop_process(own, timeout=10)
        if target.mode == "test":
            shutil.rmtree(self.layout.test_machine(self.site.name, target.key, target.machine), ignore_errors=True)

    async def set_direction(self, inp: DirectionInput) -> str | None:
        """Replication direction lives in the runbook's owner; the target site needs its folders, and a direction
        set to run counts only the passes made from now on.

        Set to run, the machines here become replication targets: a process serving one that Standby did not start
        (an old primary restarted by hand) is stopped, so that no launch here finds it; what was stopped.
        """
        now, stopped = self.clock(), []
        for machine in inp.machines:
            self.layout.machine(self.site.name, machine.name).mkdir(parents=True, exist_ok=True)
            if inp.running:
                with self._mapped(f"cannot replicate into {machine.name} at {self.site.name}"):
                    stopped += await asyncio.to_thread(strays.stop_strays, self.layout, self.site, machine)
                record_direction(self.layout.last_pass(self.site.name, machine.name), now, inp.source.name)
        return "; ".join(stopped) or None

    async def move_identity(self, inp: IdentityInput) -> str:
        """Switch the app's public endpoint to its machines on this site; old connections are closed.

        Refused (for good) when the epoch is older than the site's or than any route the endpoint follows.
        """
        spec = inp.app.config.endpoint
        moved = []
        if spec is not None and spec.port is not None:
            ports = [t.port for t in inp.targets if t.port] or [self._port(m) for m in inp.app.machines]
            with self._mapped(f"cannot move {spec.name} to {self.site.name}"):
                await asyncio.to_thread(self._move_identity, inp, spec.port, ports)
            moved.append(f"{spec.name} (127.0.0.1:{spec.port}) -> {self.site.name} "
                         f"127.0.0.1:{','.join(map(str, ports))}")
        # After the proxy: the epoch was admitted there, and clients that resolve anew land where the port already is.
        record = await dns_identity.move_app_record(self.site, inp.app)
        if record is not None:
            moved.append(record)
        return "; ".join(moved) or f"{inp.app.name} has no public port"

    def _move_identity(self, inp: IdentityInput, public: int, ports: list[int]) -> None:
        layout, app = self._layout(*inp.peers), inp.app.name
        own = layout.route(self.site.name, app)
        holder = endpoint.holder(public)
        peers = [layout.route(peer.name, app) for peer in inp.peers if isinstance(peer.config, LocalSite)]
        others = [route for route in dict.fromkeys([*peers, *(holder.routes if holder else ())]) if route != own]
        fencing.admit(layout.epoch(self.site.name, app), inp.epoch, f"{app} at {self.site.name}")
        endpoint.move_endpoint(own, ports, 10.0, inp.epoch, others)
        endpoint.ensure_proxy(public, [own, *others], own.with_suffix(".pid"), own.with_suffix(".log"), replace=True)
