"""Failback of machines that run outside AWS: the recovery instance they come back from, its failback replication,
and the failback launch. The Failback Client activities (`failback_client.py` beside this module) call these.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from activities.sites.aws import drs
from activities.sites.aws.clients import Api
from activities.sites.base import PermanentProviderError, ProviderError
from standby.contracts.sites import LaunchInput, MachineRef, Target

Item = dict[str, Any]
GONE = ("TERMINATED", "NOT_FOUND", "SHUTTING-DOWN")
# The recovery instance's DRS agent reports every few minutes; older than this it is not there to pair with.
AGENT_SEEN_WITHIN = timedelta(minutes=10)


async def recovery_instance(api: Api, machine: MachineRef) -> Item:
    """The production recovery instance a machine fails back from: the runbook's, or the newest of its server."""
    chosen = machine.config.failback.instance if machine.config.failback else None
    if chosen:
        found = await drs.recovery_instances(api, instances=[chosen])
    else:
        server = machine.config.source_id
        found = await drs.recovery_instances(api, servers=[server] if server else [])
    live = [i for i in found if not i.get("isDrill") and i.get("ec2InstanceState") not in GONE]
    if not live:
        what = f"recovery instance {chosen}" if chosen else f"a recovery instance of {machine.name} (fail over first)"
        raise PermanentProviderError(f"no {what} to fail back from [{api.describe}, server={machine.config.source_id}]")
    return max(live, key=lambda i: i.get("pointInTimeSnapshotDateTime") or "")


async def pair(api: Api, instance: Item, machine: str) -> str:
    """Pair the failback replication of a recovery instance with this machine once its agent is seen."""
    ident = instance["recoveryInstanceID"]
    seen = drs.parse_time((instance.get("failback") or {}).get("agentLastSeenByServiceDateTime"))
    if seen is None or datetime.now(UTC) - seen > AGENT_SEEN_WITHIN:
        raise ProviderError(f"the DRS agent of {ident} has not reported since {seen or 'ever'}; "
                            f"is the recovery instance running? [{api.describe}]")
    await api.do("drs", "update_failback_replication_configuration", ident, recoveryInstanceID=ident,
                 name=f"standby {machine}", usePrivateIP=True)
    return f"{machine} paired with {ident} (agent seen {seen:%H:%M:%S}Z)"


async def stop(api: Api, ident: str) -> None:
    """Stop the failback replication of a recovery instance (compensation of an aborted Failback Client)."""
    await api.call("drs", "stop_failback", ident, benign=frozenset({"ResourceNotFoundException", "ConflictException"}),
                   recoveryInstanceID=ident)


async def launch(api: Api, inputs: list[LaunchInput], poll: float, site: str) -> dict[tuple[str, str], Target]:
    """Failback launches of machines outside AWS, at most 200 recovery instances per call, idempotent per key."""
    instances = {i.machine.name: await recovery_instance(api, i.machine) for i in inputs}
    started = await _launched(api, {i.key for i in inputs})
    todo = [i for i in inputs if (i.key, instances[i.machine.name]["recoveryInstanceID"]) not in started
            and (instances[i.machine.name].get("failback") or {}).get("state") != "FAILBACK_COMPLETED"]
    jobs = set(started.values())
    for key in sorted({i.key for i in todo}):
        ids = [instances[i.machine.name]["recoveryInstanceID"] for i in todo if i.key == key]
        for part in drs.chunks(ids):
            job = await api.do("drs", "start_failback_launch", recoveryInstanceIDs=part,
                               tags={drs.KEY: key, drs.MODE: "recovery"})
            jobs.add(job["job"]["jobID"])
    if jobs:
        await drs.wait_jobs(api, sorted(jobs), poll)
    return {(i.key, i.machine.name): _target(i, instances[i.machine.name], site) for i in inputs}


async def _launched(api: Api, keys: set[str]) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for key in keys:
        for job in await drs.jobs_tagged(api, key=key, days=2):
            for part in job.get("participatingServers", []):
                if part.get("recoveryInstanceID") and part.get("launchStatus") != "FAILED":
                    found[(key, part["recoveryInstanceID"])] = job["jobID"]
    return found


def _target(inp: LaunchInput, instance: Item, site: str) -> Target:
    config = inp.machine.config.failback
    return Target(key=inp.key, machine=inp.machine.name, app=inp.app.name, site=site, mode=inp.mode,
                  target_id=inp.machine.config.source_id or inp.machine.name,
                  address=config.address if config else None, point_id=f"failback-{instance['recoveryInstanceID']}")
