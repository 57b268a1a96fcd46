"""One site's datacenter in its vCenter, as the worker reaches it: the session, look-ups and task runs in one place."""

from collections.abc import Callable
from typing import Any, TypeVar

from pyVmomi import vim

from activities.sites.vsphere import inventory
from activities.sites.vsphere.errors import where
from activities.sites.vsphere.session import POOL, Session, SessionPool
from activities.sites.vsphere.tasks import run_task
from standby.contracts.sites import MachineRef
from standby.runbook import VsphereSite

T = TypeVar("T")


class Vcenter:
    """The datacenter a vSphere site names, with its session taken from the worker's pool on first use."""

    def __init__(self, name: str, config: VsphereSite, sessions: SessionPool = POOL):
        self.name, self.config, self._sessions = name, config, sessions
        self._datacenter: vim.Datacenter | None = None

    @property
    def session(self) -> Session:
        """The worker's session with this vCenter (credentials are read here, inside an activity)."""
        return self._sessions.get(self.config)

    @property
    def vcenter(self) -> str:
        """host, or host:port when the port is not the usual one."""
        return self.config.host if self.config.port in (80, 443) else f"{self.config.host}:{self.config.port}"

    def describe(self) -> str:
        """`site=dr, vcenter=vc-dr.example.org`."""
        return where(self.name, self.vcenter)

    def where(self, vm: str | None = None) -> str:
        """What goes into an error message: site, vCenter and VM."""
        return where(self.name, self.vcenter, vm)

    async def run(self, fn: Callable[[vim.ServiceInstanceContent], T], what: str, vm: str | None = None) -> T:
        """A blocking pyvmomi call on this site's session, errors mapped."""
        return await self.session.run(fn, what, self.where(vm))

    async def task(self, start: Callable[[vim.ServiceInstanceContent], vim.Task], what: str,
                   vm: str | None = None) -> Any:
        """Start a vSphere task and poll it to its end, heartbeating."""
        return await run_task(self.session, start, what, self.where(vm))

    async def datacenter(self) -> vim.Datacenter:
        """The site's datacenter (looked up once)."""
        if self._datacenter is None:
            self._datacenter = await self.run(
                lambda content: inventory.datacenter(content, self.config, self.where()), "find datacenter")
        return self._datacenter

    async def find_vm(self, ident: str) -> vim.VirtualMachine | None:
        """A VM of the datacenter by name, instance UUID or moid; None when there is none."""
        dc = await self.datacenter()
        return await self.run(lambda content: inventory.find_vm(content, dc, ident, self.where(ident)),
                              "find VM", ident)

    async def vm(self, ident: str) -> vim.VirtualMachine:
        """A VM that must exist."""
        dc = await self.datacenter()
        return await self.run(lambda content: inventory.require_vm(content, dc, ident, self.where(ident)),
                              "find VM", ident)

    def vm_of(self, machine: MachineRef) -> str:
        """The VM that is this machine at this site: `at.<site>.vm`, else source_id, else the machine's name."""
        placed = machine.config.at.get(self.name)
        return (placed.vm if placed and placed.vm else None) or machine.config.source_id or machine.name
