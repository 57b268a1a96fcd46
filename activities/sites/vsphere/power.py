"""Power operations on one VM: on, guest shutdown then power off, HA-style restart, reset."""

import asyncio
import time

from pyVmomi import vim

from activities.sites.vsphere.session import Session
from activities.sites.vsphere.tasks import heartbeat, run_task

ON, OFF = vim.VirtualMachine.PowerState.poweredOn, vim.VirtualMachine.PowerState.poweredOff
POLL_SECONDS = 0.5


async def power_state(session: Session, vm: vim.VirtualMachine, context: str) -> str:
    """poweredOn, poweredOff or suspended."""
    return await session.run(lambda _: vm.runtime.powerState, "read power state", context)


async def power_on(session: Session, vm: vim.VirtualMachine, context: str) -> bool:
    """Power the VM on; False when it already was."""
    if await power_state(session, vm, context) == ON:
        return False
    await run_task(session, lambda _: vm.PowerOnVM_Task(), "power on", context)
    return True


async def power_off(session: Session, vm: vim.VirtualMachine, context: str) -> bool:
    """Power the VM off at once; False when it already was."""
    if await power_state(session, vm, context) == OFF:
        return False
    await run_task(session, lambda _: vm.PowerOffVM_Task(), "power off", context)
    return True


async def shut_down(session: Session, vm: vim.VirtualMachine, timeout: float, context: str) -> str:
    """Ask the guest OS to shut down, wait up to `timeout` s, then power off: "not running", "stopped" or "killed"."""
    state = await power_state(session, vm, context)
    if state == OFF:
        return "not running"
    if state == ON and await session.run(lambda _: _ask_guest(vm), "guest shutdown", context):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await power_state(session, vm, context) == OFF:
                return "stopped"
            heartbeat(f"waiting for the guest of {vm._moId} to shut down")
            await asyncio.sleep(POLL_SECONDS)
    await power_off(session, vm, context)
    return "killed"


def _ask_guest(vm: vim.VirtualMachine) -> bool:
    """ShutdownGuest; False when VMware Tools cannot take it (not installed, not running)."""
    try:
        vm.ShutdownGuest()
    except (vim.fault.ToolsUnavailable, vim.fault.InvalidState):
        return False
    return True


async def restart(session: Session, vm: vim.VirtualMachine, timeout: float, context: str) -> str:
    """Restart as VMware HA does for a failed VM: a guest shutdown (power off after `timeout` s), then power on."""
    how = await shut_down(session, vm, timeout, context)
    await power_on(session, vm, context)
    return "restarted" if how != "killed" else "power-cycled"


async def reset(session: Session, vm: vim.VirtualMachine, context: str) -> str:
    """A hard reset (powered-off VMs are powered on instead)."""
    if await power_state(session, vm, context) != ON:
        await power_on(session, vm, context)
        return "powered on"
    await run_task(session, lambda _: vm.ResetVM_Task(), "reset", context)
    return "reset"
