"""What launches leave behind at a site, removed: a drill's instances (its cleanup), and the recovery instances an
earlier failover created (return to normal, once protection runs again).

Instances are found twice over: through the DRS launch jobs tagged with the operation's key (an instance the
launch never got to tag) and through the EC2 tags Standby puts on what it launched (a job older than DRS's job
history). DRS terminates the recovery instances it knows (TerminateRecoveryInstances also drops its record);
EC2 terminates the ones it no longer knows. Either way the cleanup ends only once EC2 lists none of them alive.
An instance a failback launched *into* (a machine's original EC2 instance) never carries `standby:created` and is
never removed.
"""

from __future__ import annotations

from typing import Any

from activities.sites.aws import drs, templates
from activities.sites.aws import instances as ec2
from activities.sites.aws.clients import Api
from activities.sites.aws.failback import GONE

Item = dict[str, Any]
WAIT_SECONDS = 900.0


async def drill_targets(api: Api, runbook: str, key: str | None, prefix: str | None, poll: float) -> list[str]:
    """Terminate the drill instances of a key (or key prefix) and give the templates back to recovery."""
    jobs = await drs.jobs_tagged(api, key=key, prefix=prefix)
    jobs.sort(key=lambda j: j.get("creationDateTime", ""), reverse=True)
    launched = [p["recoveryInstanceID"] for j in jobs for p in j.get("participatingServers", [])
                if p.get("recoveryInstanceID")]
    await _release(api, {p["sourceServerID"] for j in jobs for p in j.get("participatingServers", [])})
    tagged = [i["InstanceId"] for i in await ec2.tagged(api, runbook, drs.DRILL, key, prefix)]
    return await _terminate(api, list(dict.fromkeys(launched + tagged)), tagged, drill=True, poll=poll)


async def recovery_targets(api: Api, runbook: str, key: str | None, prefix: str | None, poll: float) -> list[str]:
    """Terminate the recovery instances operations of a key (or key prefix) created at this site."""
    created = [i["InstanceId"] for i in await ec2.tagged(api, runbook, drs.CREATED, key, prefix)
               if drs.tags_of(i).get(drs.MODE) == "recovery"]
    return await _terminate(api, created, created, drill=False, poll=poll)


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
