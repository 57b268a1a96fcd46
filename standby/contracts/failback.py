"""The Failback Client's steps for a machine outside AWS: inputs and results."""

from pydantic import BaseModel

from standby.contracts.sites import MachineRef, SiteRef
from standby.holders import holder
from standby.runbook import Runbook

TOKEN_ENV = "STANDBY_INSTALLATION_TOKEN"


class FailbackStep(BaseModel):
    """One machine's Failback Client: the machine, the DRS site of its recovery instance, the site it returns to."""

    runbook: str
    machine: MachineRef
    dr: SiteRef
    home: SiteRef
    instance: str | None = None


class Disk(BaseModel):
    """A volume of the recovery instance."""

    device: str
    bytes: int


class Detected(BaseModel):
    """The recovery instance the machine fails back from, and the folder the client works in."""

    instance: str
    address: str | None
    disks: list[Disk]
    workdir: str


class VolumesInput(BaseModel):
    """Map the recovery instance's volumes onto the machine's local devices."""

    step: FailbackStep
    detected: Detected


class ConfigureInput(BaseModel):
    """Configure, then install, the downloaded replication software."""

    step: FailbackStep
    detected: Detected
    volumes: dict[str, str]
    package: str


def failback_client_machines(runbook: Runbook, dr: str, apps: list[str]) -> list[str]:
    """Machines of the apps whose failback from site `dr` runs the Failback Client, in the apps' order."""
    return [m for a in apps for m in runbook.apps[a].machines
            if holder(dr, runbook.sites[dr], m, runbook.machines[m])[1].needs_failback_client(runbook.machines[m])]
