"""Fencing epochs on vSphere: each VM keeps the newest epoch that launched, started or moved it in its extraConfig.

`standby.epoch` sits beside Standby's other marks. A recovery launch, a start or an identity move of an older epoch
than the VM's is refused, so an operation fenced by a newer one can no longer revert, power on or re-point it.
The simulator has no ConfigSpec.changeVersion, so the read and the write are two calls; one runbook runs one
operation at a time (its owner workflow), and what is fenced is an older operation's late retry, not a peer.
"""

from pyVmomi import vim

from activities.sites.base import PermanentProviderError
from activities.sites.vsphere import inventory
from activities.sites.vsphere.vcenter import Vcenter
from standby.contracts.sites import AppRef, MachineRef


async def admit(vc: Vcenter, machine: MachineRef, epoch: int, what: str) -> None:
    """Record the epoch on the machine's VM here, or refuse (for good) one older than the VM's."""
    ident = vc.vm_of(machine)
    vm = await vc.vm(ident)
    found = await vc.run(lambda content: inventory.props(content, vm, ["config.extraConfig"]), "read epoch", ident)
    seen = int(inventory.tags(found.get("config.extraConfig")).get("epoch") or 0)
    if epoch < seen:
        raise PermanentProviderError(f"stale epoch {epoch} < {seen}: {what} holds epoch {seen}, written by a newer "
                                     f"operation [{vc.where(ident)}]")
    if epoch > seen:
        spec = vim.vm.ConfigSpec(extraConfig=inventory.tag_options(epoch=str(epoch)))
        await vc.task(lambda _: vm.ReconfigVM_Task(spec=spec), f"record epoch {epoch}", ident)


async def admit_app(vc: Vcenter, app: AppRef, epoch: int) -> None:
    """`admit` for every machine of the app."""
    for machine in app.machines:
        await admit(vc, machine, epoch, f"{app.name} at {vc.name}")
