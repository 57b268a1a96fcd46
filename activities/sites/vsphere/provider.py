"""The `vsphere` provider: a vCenter datacenter driven through pyvmomi.

Each machine is a VM at every site (`at.<site>.vm`, else `source_id`, by name,
instance UUID or moid). Disks reach the replica VM at the target site by
vSphere Replication or array replication, outside Standby; Standby keeps
point-in-time snapshots of the replica on the site's `snapshot_interval`,
prunes them by the runbook's retention, reverts to one to fail over and clones
one onto the isolated port group to drill. Credentials come from the worker.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pyVmomi import vim

from activities.dns import identity as dns_identity
from activities.sites.base import PermanentProviderError, ProviderError, failed
from activities.sites.vsphere import fencing, inventory, points, power, targets
from activities.sites.vsphere.session import POOL, SessionPool
from activities.sites.vsphere.vcenter import Vcenter
from activities.sites.vsphere.waits import TaskWaits
from standby.contracts.sites import (
    AppInput,
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
from standby.runbook import VsphereSite


class VsphereSiteProvider:
    """One vSphere site of one runbook; sessions come from the worker's pool (one per vCenter)."""

    def __init__(self, site: SiteRef, sessions: SessionPool = POOL, clock: Callable[[], datetime] | None = None):
        """`sessions` and `clock` are seams for tests; by default the worker's pool and UTC now."""
        if not isinstance(site.config, VsphereSite):
            raise PermanentProviderError(f"site {site.name} is not a vsphere site")
        self.site, self.config = site, site.config
        self.vc = Vcenter(site.name, site.config, sessions)
        self.clock = clock or (lambda: datetime.now(UTC))

    def describe(self) -> str:
        """`site=dr, vcenter=vc-dr.example.org`."""
        return self.vc.describe()

    async def _points(self, machine: MachineRef) -> tuple[str, vim.VirtualMachine | None, list[points.Point]]:
        ident = self.vc.vm_of(machine)
        vm = await self.vc.find_vm(ident)
        if vm is None:
            return ident, None, []
        found = await self.vc.run(lambda content: inventory.props(content, vm, ["snapshot"]), "read snapshots", ident)
        return ident, vm, points.points(found.get("snapshot"))

    async def replication(self, inp: ReplicationInput) -> list[MachineReplication]:
        """Each replica's phase from the age of its newest point."""
        now, interval = self.clock(), self.config.snapshot_interval
        states = []
        for machine in inp.machines:
            ident, vm, existing = await self._points(machine)
            if vm is None:
                states.append(MachineReplication(machine=machine.name, phase="initiating",
                                                 detail=f"no VM {ident} in datacenter {self.config.datacenter} yet"))
            else:
                states.append(points.state(machine.name, existing, now, interval, paused=not inp.copy_data))
        return states

    async def replicate(self, inp: ReplicationInput) -> list[MachineReplication]:
        """Take the points that are due and prune, for `inp.seconds`; `seconds: 0` (a drain) takes one of each now."""
        if inp.seconds <= 0:
            await self._pass(inp, force=True)
            return await self.replication(inp)
        deadline = time.monotonic() + inp.seconds
        while True:
            await self._pass(inp, force=False)
            left = deadline - time.monotonic()
            if left <= 0:
                return await self.replication(inp)
            await asyncio.sleep(min(left, self.config.snapshot_interval.total_seconds()))

    async def _pass(self, inp: ReplicationInput, force: bool) -> None:
        if not inp.copy_data:
            return
        for machine in inp.machines:
            ident, vm, existing = await self._points(machine)
            if vm is None:
                continue
            now = self.clock()
            if force or points.due(existing, now, self.config.snapshot_interval):
                name = points.point_name(now)
                # The defaults bind this iteration's values; mypy cannot type such a lambda (python/mypy#15459).
                await self.vc.task(
                    lambda _, vm=vm, name=name: vm.CreateSnapshot_Task(**points.snapshot_spec(name)),  # type: ignore[misc]
                    f"take recovery point {name}", ident)
                existing = (await self._points(machine))[2]
            for old in points.expired(existing, self.clock(), inp.retention):
                await self.vc.task(
                    lambda _, old=old: old.snapshot.RemoveSnapshot_Task(  # type: ignore[misc]
                        removeChildren=False, consolidate=True),
                    f"prune recovery point {old.name}", ident)

    async def recovery_points(self, inp: PointsInput) -> list[RecoveryPoint]:
        """The replica's points, oldest first, by snapshot name."""
        ident, vm, existing = await self._points(inp.machine)
        if vm is None:
            raise PermanentProviderError(f"VM {ident} not found [{self.vc.where(ident)}]")
        return [RecoveryPoint(id=p.name, time=p.time) for p in existing]

    async def launch(self, inp: LaunchInput) -> Target:
        """Recovery: revert the replica and power it on. Test: an isolated clone of the point."""
        if inp.mode == "test":
            return await targets.launch_test(self.vc, inp, self.clock())
        await fencing.admit(self.vc, inp.machine, inp.epoch, f"{inp.app.name} at {self.site.name}")
        return await targets.launch_recovery(self.vc, inp, self.clock())

    async def together(self, calls: list[Awaitable[None]]) -> None:
        """The calls of one batch (a launch, or an app's stop, each) concurrently, every task they start waited for
        in one wait."""
        await TaskWaits(self.vc.session, self.describe(), len(calls)).run(calls)

    async def start_app(self, inp: AppInput) -> list[Target]:
        """Power on the app's VMs at this site as they are (protection bring-up, switchover), unless fenced."""
        await fencing.admit_app(self.vc, inp.app, inp.epoch)
        started = []
        for machine in inp.app.machines:
            ident = self.vc.vm_of(machine)
            vm = await self.vc.vm(ident)
            launched = await power.power_on(self.vc.session, vm, self.vc.where(ident))
            # The defaults bind this iteration's values; mypy cannot type such a lambda (python/mypy#15459).
            address = await self.vc.run(lambda _, vm=vm: vm.guest.ipAddress if vm.guest else None,  # type: ignore[misc]
                                        "read guest IP", ident)
            started.append(Target(key="live", machine=machine.name, app=inp.app.name, site=self.site.name,
                                  mode="recovery", target_id=ident, address=address or None, launched=launched))
        return started

    async def stop_app(self, inp: AppInput) -> StopResult:
        """Guest shutdown of each VM, powered off after the app's stop_timeout; a VM that fails is named once the
        others are stopped."""
        timeout = inp.app.config.stop_timeout.total_seconds()
        outcome, failures = {}, {}
        for machine in inp.app.machines:
            ident = self.vc.vm_of(machine)
            try:
                vm = await self.vc.vm(ident)
                outcome[machine.name] = await power.shut_down(self.vc.session, vm, timeout, self.vc.where(ident))
            except ProviderError as error:
                failures[machine.name] = error
        if failures:
            raise failed(failures, len(inp.app.machines), "machines failed to stop")
        return StopResult(app=inp.app.name, site=self.site.name, outcome=outcome)

    async def terminate(self, inp: TerminateInput) -> list[str]:
        """Destroy drill clones, stop recovered replicas, launched under a key or key prefix (of `inp.apps` only)."""
        return await targets.terminate(self.vc, inp.key, inp.prefix, inp.apps)

    async def set_direction(self, inp: DirectionInput) -> None:
        """Snapshots follow the direction by themselves; check that every machine has a VM here to protect."""
        missing = [self.vc.vm_of(m) for m in inp.machines if await self.vc.find_vm(self.vc.vm_of(m)) is None]
        if missing:
            raise PermanentProviderError(f"no VM {', '.join(missing)} at {self.site.name} to replicate into; "
                                         f"register the replicas first [{self.describe()}]")

    async def move_identity(self, inp: IdentityInput) -> str:
        """Port groups and guest IPs were set at launch; the app's DNS record follows when the site has `dns`.

        Refused when a VM of the app holds a newer epoch.
        """
        await fencing.admit_app(self.vc, inp.app, inp.epoch)
        spec = inp.app.config.endpoint
        answering, reported = [], {}
        for machine in inp.app.machines:
            ident = self.vc.vm_of(machine)
            vm = await self.vc.vm(ident)
            # The defaults bind this iteration's values; mypy cannot type such a lambda (python/mypy#15459).
            address, networks = await self.vc.run(
                lambda _, vm=vm: (  # type: ignore[misc]
                    vm.guest.ipAddress if vm.guest else None, [n.name for n in vm.network]),
                "read guest IP and port groups", ident)
            reported[machine.name] = address or None
            answering.append(f"{ident} ({address or 'no guest IP yet'} on {', '.join(networks) or 'no port group'})")
        name = spec.name if spec else inp.app.name
        moved = f"{name} -> {self.site.name}: {'; '.join(answering)}"
        record = await dns_identity.move_app_record(self.site, inp.app, reported)
        return moved if record is None else f"{moved}; {record}"
