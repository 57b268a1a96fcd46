"""What launches leave behind at a site, removed: a drill's instances (its cleanup), and the recovery instances an
earlier failover created (return to normal, once protection runs again).

Instances are found twice over: through the DRS launch jobs tagged with the operation's key (an instance the
launch never got to tag) and through the EC2 tags Standby puts on what it launched (a job older than DRS's job
history). DRS terminates the recovery instances it knows (TerminateRecoveryInstances also drops its record);
EC2 terminates the ones it no longer knows. Either way the cleanup ends only once EC2 lists none of them alive.
An instance a failback launched *into* (a machine's original EC2 instance) never carries `standby:created` and is
never removed.

A removal of some machines only (what an interrupted run left of the apps down) keeps to their instances: tagged
with one of those machines, or started by a launch job for one of their source servers. A recovery instance no
launch got to tag (the run was aborted while DRS launched it) carries no `standby:machine`, which every original
instance does, so it is found through its job.
"""

from __future__ import annotations

from typing import Any

from activities.sites.aws import drs, templates
from activities.sites.aws import instances as ec2
from activities.sites.aws.clients import Api
from activities.sites.aws.failback import GONE
from standby.contracts.sites import MachineRef

Item = dict[str, Any]
WAIT_SECONDS = 900.0


async def drill_targets(api: Api, runbook: str, key: str | None, prefix: str | None, poll: float,
                        machines: list[MachineRef] | None = None) -> list[str]:
    """Terminate the drill instances of a key (or key prefix; of some machines only) and give the templates back to
    recovery."""
    mine = await _Mine.of(api, runbook, machines)
    jobs = await drs.jobs_tagged(api, key=key, prefix=prefix)
    jobs.sort(key=lambda j: j.get("creationDateTime", ""), reverse=True)
    parts = [p for j in jobs for p in j.get("participatingServers", []) if mine.server(p["sourceServerID"])]
    launched = [p["recoveryInstanceID"] for p in parts if p.get("recoveryInstanceID")]
    await _release(api, {p["sourceServerID"] for p in parts})
    tagged = [i["InstanceId"] for i in await ec2.tagged(api, runbook, drs.DRILL, key, prefix) if mine.instance(i)]
    return await _terminate(api, list(dict.fromkeys(launched + tagged)), tagged, drill=True, poll=poll)


async def recovery_targets(api: Api, runbook: str, key: str | None, prefix: str | None, poll: float,
                           machines: list[MachineRef] | None = None) -> list[str]:
    """Terminate the recovery instances operations of a key (or key prefix) created at this site; of some machines
    only, also those their launch jobs started that no launch got to tag."""
    mine = await _Mine.of(api, runbook, machines)
    created = [i["InstanceId"] for i in await ec2.tagged(api, runbook, drs.CREATED, key, prefix)
               if drs.tags_of(i).get(drs.MODE) == "recovery" and mine.instance(i)]
    untagged = await _untagged(api, key, prefix, mine) if machines is not None else []
    return await _terminate(api, list(dict.fromkeys(created + untagged)), created, drill=False, poll=poll)


class _Mine:
    """Which source servers and instances a removal of some machines keeps to (all of them without machines)."""

    def __init__(self, machines: set[str] | None, servers: set[str]):
        self.machines, self.servers = machines, servers

    @classmethod
    async def of(cls, api: Api, runbook: str, machines: list[MachineRef] | None) -> _Mine:
        if machines is None:
            return cls(None, set())
        found = await drs.servers_of(api, runbook, machines)
        return cls({m.name for m in machines}, {s["sourceServerID"] for s in found.values()})

    def server(self, ident: str) -> bool:
        return self.machines is None or ident in self.servers

    def instance(self, item: Item) -> bool:
        return self.machines is None or drs.tags_of(item).get(drs.MACHINE) in self.machines


async def _untagged(api: Api, key: str | None, prefix: str | None, mine: _Mine) -> list[str]:
    """Live instances the recovery jobs of a key (or prefix) started for these servers that Standby never tagged."""
    jobs = await drs.jobs_tagged(api, key=key, prefix=prefix)
    parts = [p for j in jobs if j.get("initiatedBy") == "START_RECOVERY" for p in j.get("participatingServers", [])]
    ids = [p["recoveryInstanceID"] for p in parts if p.get("recoveryInstanceID") and mine.server(p["sourceServerID"])]
    return [i["InstanceId"] for i in await ec2.alive(api, ids) if drs.MACHINE not in drs.tags_of(i)]


async def _terminate(api: Api, ids: list[str], tagged: list[str], drill: bool, poll: float) -> list[str]:
    """Through DRS what it knows (drill or not, as asked), through EC2 the tagged ones it does not; wait till gone."""
    known = {i["recoveryInstanceID"]: i for i in await drs.recovery_instances(api, instances=ids)}
    through_drs = [i for i in ids if i in known and bool(known[i].get("isDrill")) == drill
                   and known[i].get("ec2InstanceState") not in GONE]
    leftovers = [i for i in tagged if i not in known]
    started = [(await api.do("drs", "terminate_recovery_instances", recoveryInstanceIDs=part))["job"]["jobID"]
               for part in drs.chunks(through_drs)]
    if started:
        await drs.wait_jobs(api, started, poll)
    if leftovers:
        await ec2.terminate(api, leftovers)
    await ec2.wait_gone(api, through_drs + leftovers, poll, WAIT_SECONDS)
    return through_drs + leftovers


async def _release(api: Api, servers: set[str]) -> None:
    """Point every template a drill of these servers may still hold back at its recovery version."""
    seen: set[str] = set()
    for server in sorted(servers):
        config = await api.call("drs", "get_launch_configuration", server,
                                benign=frozenset({"ResourceNotFoundException"}), sourceServerID=server)
        template = (config or {}).get("ec2LaunchTemplateID")
        if template and template not in seen:
            seen.add(template)
            await templates.release(api, server, template)
