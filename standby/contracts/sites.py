"""Inputs and results of the site activities: replication, points, launch, stop, identity, remediation.

Inputs carry the slice of the runbook a step needs, never the whole runbook, so that histories stay small.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, TypeAdapter

from standby.runbook import App, Machine, RecoveryPoints, Runbook, Site
from standby.runbook_base import empty

Phase = Literal["initiating", "initial_sync", "backlog", "creating_first_point", "continuous", "stalled", "stopped"]


Mode = Literal["test", "recovery"]


class SiteRef(BaseModel):
    """A site by name, with its settings (never credentials)."""

    runbook: str
    name: str
    config: Site
    holder: str = Field("", description="at a mixed site: the name of the provider this reference is resolved to")


class MachineRef(BaseModel):
    """A machine by name, with its provider id and blueprint."""

    name: str
    index: int
    config: Machine


class AppRef(BaseModel):
    """An app with its machines, as providers need it."""

    name: str
    config: App
    machines: list[MachineRef]


class ServingProcess(BaseModel):
    """A process serving a machine at a site: it listens on the machine's port or works on its data folder."""

    pid: int | None = Field(description="None: a process this worker may not inspect")
    command: str
    started_by_standby: bool = Field(description="False: it was started by hand or came back by itself; a launch "
                                     "never adopts it, and `stop_app` at its site stops it")
    site: str | None = Field(None, description="where it runs, when not at the site reporting: the source of a "
                             "paused direction, which should serve nothing")


class Transfer(BaseModel):
    """The bytes of replication passes of one machine: how much its data changed, and how much crossed the sites."""

    passes: int = Field(0, description="passes that found a change")
    changed_bytes: int = Field(0, description="data the target did not hold yet (rsync's literal data)")
    files_bytes: int = Field(0, description="size of the changed files: what copying each of them whole would send")
    sent_bytes: int = Field(0, description="bytes that crossed between the sites, both ways, compressed")

    def plus(self, other: "Transfer") -> "Transfer":
        """The sum of two counts."""
        return Transfer(passes=self.passes + other.passes, changed_bytes=self.changed_bytes + other.changed_bytes,
                        files_bytes=self.files_bytes + other.files_bytes, sent_bytes=self.sent_bytes + other.sent_bytes)


class MachineReplication(BaseModel):
    """Replication state of one machine, as the Temporal UI and `standby status` show it."""

    machine: str
    phase: Phase
    percent: float | None = None
    backlog_bytes: int | None = None
    lag_seconds: float | None = None
    latest_point: datetime | None = None
    points: int = 0
    detail: str = ""
    serving: list[ServingProcess] = Field([], description="processes serving the machine at the site reporting")
    last_round: Transfer | None = Field(None, description="bytes of the passes of the last replication round")
    total: Transfer | None = Field(None, description="bytes of every pass since replication from this source began")


class RecoveryPoint(BaseModel):
    """A point in time a machine can be launched from."""

    id: str
    time: datetime


class ReplicationInput(BaseModel):
    """Replication of some machines from `source` into `target`."""

    source: SiteRef
    target: SiteRef
    machines: list[MachineRef]
    retention: RecoveryPoints = RecoveryPoints()
    apps: list[AppRef] = []
    seconds: float = 5.0
    copy_data: bool = Field(True, description="False: only supervise (endpoints), replication is paused")
    behind_only: bool = Field(False, description="the result holds only the machines not in continuous data "
                              "protection (a drain's: the others are all a workflow would otherwise decode)")


class PointsInput(BaseModel):
    """The recovery points of one machine at `target`."""

    source: SiteRef
    target: SiteRef
    machine: MachineRef


class LaunchInput(BaseModel):
    """Launch one machine of an app at `site`, idempotent on `key` (the operation's workflow id)."""

    key: str
    site: SiteRef
    source: SiteRef
    app: AppRef
    machine: MachineRef
    mode: Mode
    point: RecoveryPoint | None = None
    endpoints: dict[str, int] = empty(dict)
    epoch: int = Field(0, description="the fencing epoch of the operation: providers refuse an older one")
    places: dict[str, int] = empty(dict, "each app's place (app_places): in a drill, the provider derives from it "
                                   "where each peer's drill target answers")


class Target(BaseModel):
    """A launched machine: where it runs and from which point."""

    key: str
    machine: str
    app: str
    site: str
    mode: Mode
    target_id: str
    address: str | None = None
    port: int | None = None
    point_id: str | None = None
    launched: bool = True
    provider: str = Field("", description="at a mixed site, the provider that launched it: `cloud (aws)`")


class AppInput(BaseModel):
    """Start or stop an app's machines at a site."""

    site: SiteRef
    app: AppRef
    endpoints: dict[str, int] = empty(dict)
    epoch: int = Field(0, description="the fencing epoch of the operation: providers refuse an older one")


class StopResult(BaseModel):
    """What stopping an app did, machine by machine."""

    app: str
    site: str
    outcome: dict[str, str]
    outside: dict[str, list[int]] = empty(dict, "per machine, pids that Standby had not started but that served it "
                                          "(its port, its data folder), stopped as well")
    provider: str = Field("", description="at a mixed site, the provider that stopped them: `services (local)`")
    unstoppable: list[str] = empty(list, "machines the provider cannot stop by design (AWS: servers outside AWS), "
                                   "fenced without any attempt: they say nothing of the site's reach")


class TerminateInput(BaseModel):
    """Remove every target launched under `key` (or under any key with `prefix`) at a site."""

    site: SiteRef
    key: str | None = None
    prefix: str | None = None
    recovery: bool = Field(False, description="AWS: also terminate the recovery instances those operations created "
                           "(return to normal, once protection runs again); otherwise drill instances only")
    apps: list[str] | None = Field(None, description="only the targets of these apps (a warm switchover's apps that "
                                   "were not cut over, a rerun's apps down); None: every target of the key")
    machines: list[MachineRef] | None = Field(None, description="the machines of `apps`: AWS marks its instances "
                                              "with their machine, and finds a launch job's by its source server")


class DirectionInput(BaseModel):
    """Replicate from `source` to `target` from now on."""

    source: SiteRef
    target: SiteRef
    machines: list[MachineRef]
    running: bool = True


class IdentityInput(BaseModel):
    """Point an app's network identity at its machines on `site`."""

    runbook: str
    app: AppRef
    site: SiteRef
    targets: list[Target] = []
    epoch: int = Field(0, description="the fencing epoch of the operation: providers refuse an older one")
    peers: list[SiteRef] = Field([], description="the runbook's other sites: a local endpoint follows the routes of "
                                 "all of them and refuses an epoch older than any of theirs")


class RemediationInput(BaseModel):
    """A VMware remediation step: which VM of which site, and where to move it (vMotion, Storage vMotion)."""

    site: SiteRef
    vm: str
    shutdown_seconds: float = Field(120, description="restart: how long the guest may take to shut down")
    host: str | None = None
    datastore: str | None = None


class RemediationResult(BaseModel):
    """What a remediation did, and where the VM is now."""

    site: str
    vm: str
    action: str
    outcome: str
    host: str | None = None
    datastores: list[str] = []


def site_ref(runbook: Runbook, name: str) -> SiteRef:
    """The reference of a named site."""
    return SiteRef(runbook=runbook.runbook, name=name, config=runbook.sites[name])


def machine_index(runbook: Runbook) -> dict[str, int]:
    """Each machine's place in the runbook: its port offset on a local site, stable across slices."""
    return {name: position for position, name in enumerate(runbook.machines)}


def app_places(runbook: Runbook, index: dict[str, int] | None = None) -> dict[str, int]:
    """Each app's place in the runbook: its first machine's (a local site serves it on its base port + place)."""
    places = index or machine_index(runbook)
    return {name: places[app.machines[0]] for name, app in runbook.apps.items()}


# References are validated in one call each, not model by model: `__init__` per machine was most of the time a
# workflow task took to build a step of 10,000 machines.
_MACHINE_REFS = TypeAdapter(list[MachineRef])
_APP_REF = TypeAdapter(AppRef)


def _machines(runbook: Runbook, names: Iterable[str], places: dict[str, int]) -> list[dict[str, object]]:
    return [{"name": n, "index": places[n], "config": runbook.machines[n]} for n in names]


def machine_refs(runbook: Runbook, names: list[str], index: dict[str, int] | None = None) -> list[MachineRef]:
    """References of named machines; `index` defaults to the machines' places in this runbook."""
    return _MACHINE_REFS.validate_python(_machines(runbook, names, index or machine_index(runbook)))


def app_ref(runbook: Runbook, name: str, index: dict[str, int] | None = None) -> AppRef:
    """The reference of a named app with its machines."""
    app = runbook.apps[name]
    machines = _machines(runbook, app.machines, index or machine_index(runbook))
    return _APP_REF.validate_python({"name": name, "config": app, "machines": machines})


def runbook_slice(runbook: Runbook, apps: list[str]) -> Runbook:
    """The runbook with only these apps, their machines and their groups: a small input for a child workflow.

    Hooks stay whole (steps refer to them by index); the result is not re-validated, it is a view.
    """
    keep = set(apps)
    machines = {m for a in apps for m in runbook.apps[a].machines}
    groups = [g.model_copy(update={"apps": [a for a in g.apps if a in keep]}) for g in runbook.groups
              if keep.intersection(g.apps)]
    return runbook.model_copy(update={
        "apps": {name: app for name, app in runbook.apps.items() if name in keep},
        "machines": {name: m for name, m in runbook.machines.items() if name in machines},
        "groups": groups, "pairs": {},
    })


def public_ports(runbook: Runbook) -> dict[str, int]:
    """Each app's public endpoint port, where the runbook gives one."""
    return {name: app.endpoint.port for name, app in runbook.apps.items() if app.endpoint and app.endpoint.port}
