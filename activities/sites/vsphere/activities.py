"""The vSphere remediation actions as Temporal activities; runbook hooks and the protect monitor call them by name.

Registering them loads nothing of pyvmomi: a worker imports it on the first remediation it runs.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from temporalio import activity

from activities import metrics
from activities.sites.activities import mapped
from standby.contracts import names
from standby.contracts.sites import RemediationInput, RemediationResult

if TYPE_CHECKING:
    from activities.sites.vsphere.remediation import Remediation
    from activities.sites.vsphere.session import SessionPool


class RemediationActivities:
    """Restart, reset, vMotion and Storage vMotion; sessions from `sessions`, else the worker's pool."""

    def __init__(self, sessions: SessionPool | None = None):
        self.sessions = sessions
        self._actions: Remediation | None = None

    def _remediation(self) -> Remediation:
        if self._actions is None:
            from activities.sites.vsphere.remediation import Remediation

            self._actions = Remediation() if self.sessions is None else Remediation(self.sessions)
        return self._actions

    @activity.defn(name=names.REMEDIATE["restart_vm"])
    async def restart_vm(self, inp: RemediationInput) -> RemediationResult:
        """Restart a VM as VMware HA would: guest shutdown (power off after a while), then power on."""
        return await _counted(inp, "restart_vm", self._remediation().restart_vm(inp))

    @activity.defn(name=names.REMEDIATE["reset_vm"])
    async def reset_vm(self, inp: RemediationInput) -> RemediationResult:
        """Hard-reset a hung VM."""
        return await _counted(inp, "reset_vm", self._remediation().reset_vm(inp))

    @activity.defn(name=names.REMEDIATE["vmotion"])
    async def vmotion(self, inp: RemediationInput) -> RemediationResult:
        """vMotion a VM to inp.host, or to the least-loaded other host of the site's cluster."""
        return await _counted(inp, "vmotion", self._remediation().vmotion(inp))

    @activity.defn(name=names.REMEDIATE["storage_vmotion"])
    async def storage_vmotion(self, inp: RemediationInput) -> RemediationResult:
        """Storage vMotion a VM to a datastore of its datacenter."""
        return await _counted(inp, "storage_vmotion", self._remediation().storage_vmotion(inp))

    def all(self) -> list:
        """Every remediation activity, for the worker."""
        return [self.restart_vm, self.reset_vm, self.vmotion, self.storage_vmotion]


async def _counted(inp: RemediationInput, action: str, call: Awaitable[RemediationResult]) -> RemediationResult:
    """The action's result; counted on this worker's metrics as done or failed (each try counts)."""
    try:
        result = await mapped(call)
    except Exception:
        metrics.REMEDIATIONS.labels(inp.site.runbook, inp.site.name, action, "failed").inc()
        raise
    metrics.REMEDIATIONS.labels(inp.site.runbook, inp.site.name, action, "done").inc()
    return result
