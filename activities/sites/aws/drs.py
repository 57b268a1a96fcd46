"""Elastic Disaster Recovery in Standby's words: replication phases, source servers, jobs, the 200-server limit."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from temporalio import activity

from activities.sites.aws.clients import Api
from standby.contracts.sites import MachineRef, MachineReplication

T = TypeVar("T")
Item = dict[str, Any]

# DRS takes at most 200 source servers or recovery instances per call (StartRecovery, TerminateRecoveryInstances,
# StartFailbackLaunch, the ID filters of the describe calls).
BATCH = 200
JOB_IDS = 1000
RUNBOOK, MACHINE, KEY, MODE = "standby:runbook", "standby:machine", "standby:key", "standby:mode"
# On EC2 instances: the drill that launched one, or the operation that created one (not one launched into).
DRILL, CREATED = "standby:drill", "standby:created"
# On source servers whose replication Standby paused (DRS itself keeps replicating: see `mark_paused`).
REPLICATION, PAUSED = "standby:replication", "paused"

PHASES = {
    "INITIATING": "initiating", "NOT_STARTED": "initiating", "INITIAL_SYNC": "initial_sync", "BACKLOG": "backlog",
    "RESCAN": "backlog", "CREATING_SNAPSHOT": "creating_first_point", "CONTINUOUS": "continuous",
    "STALLED": "stalled", "REPLICATION_STATE_NOT_AVAILABLE": "stalled", "PAUSED": "stopped", "STOPPED": "stopped",
    "DISCONNECTED": "stopped",
}
FAILBACK = {
    "FAILBACK_NOT_STARTED": ("initiating", "waiting for the Failback Client"),
    "FAILBACK_READY_FOR_LAUNCH": ("continuous", "ready for failback launch"),
    "FAILBACK_COMPLETED": ("continuous", "failback launched"),
    "FAILBACK_NOT_READY_FOR_LAUNCH": ("backlog", "not ready for failback launch"),
    "FAILBACK_ERROR": ("stalled", "failback error"),
    "FAILBACK_LAUNCH_STATE_NOT_AVAILABLE": ("stalled", "failback state not available"),
}
_DURATION = re.compile(r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def chunks(items: Sequence[T], size: int = BATCH) -> list[list[T]]:
    """Items in slices the service accepts in one call."""
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def seconds(duration: str | None) -> float | None:
    """Seconds of an ISO 8601 duration as DRS reports lag (`PT1M30S`, `P1DT2H`)."""
    match = _DURATION.match(duration or "")
    if not duration or match is None:
        return None
    days, hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + secs


def parse_time(text: str | None) -> datetime | None:
    """A DRS timestamp (ISO 8601, `Z` or offset) as an aware datetime."""
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def since(days: float) -> str:
    """A `fromDate` filter value `days` ago, in the format DescribeJobs accepts."""
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def launch_tag(key: str, machine: str) -> str:
    """A short stable name of one machine's launch under one operation key (SSM comments, logs)."""
    return hashlib.sha256(f"{key}\0{machine}".encode()).hexdigest()[:16]


def tags_of(item: Item) -> dict[str, str]:
    """The tags of a DRS item (a map) or an EC2 item (a list of Key/Value)."""
    tags = cast("dict[str, str] | list[dict[str, str]]", item.get("tags", item.get("Tags", {})))
    return tags if isinstance(tags, dict) else {t["Key"]: t["Value"] for t in tags}


def _disk_sum(info: Item, field: str) -> int:
    return sum(int(disk.get(field, 0)) for disk in info.get("replicatedDisks", []))


def _detail(info: Item) -> str:
    error = info.get("dataReplicationError") or {}
    if error:
        return " ".join(filter(None, [error.get("error", ""), error.get("rawError", "")]))
    steps = (info.get("dataReplicationInitiation") or {}).get("steps", [])
    current = [s["name"] for s in steps if s.get("status") in ("IN_PROGRESS", "FAILED")]
    return f"initiation step {current[0].lower().replace('_', ' ')}" if current else ""


def _added(server: Item) -> str:
    return (server.get("lifeCycle") or {}).get("addedToServiceDateTime", "")


def replication_of(machine: str, info: Item, points: list[Item]) -> MachineReplication:
    """A source server's (or a failing-back recovery instance's) data replication as Standby's phases."""
    state = info.get("dataReplicationState", "STOPPED")
    total, done = _disk_sum(info, "totalStorageBytes"), _disk_sum(info, "replicatedStorageBytes")
    backlog = _disk_sum(info, "backloggedStorageBytes")
    times = [t for t in (parse_time(p.get("timestamp") or p.get("expectedTimestamp")) for p in points) if t]
    return MachineReplication(
        machine=machine, phase=PHASES.get(state, "stalled"),
        percent=round(100 * done / total, 1) if state == "INITIAL_SYNC" and total else None,
        backlog_bytes=backlog if state in ("BACKLOG", "RESCAN") or backlog else None,
        lag_seconds=seconds(info.get("lagDuration")), latest_point=max(times, default=None), points=len(points),
        detail=_detail(info) or ("" if state in PHASES else state.lower()),
    )


def failback_of(machine: str, instance: Item, now: datetime) -> MachineReplication:
    """A recovery instance replicating back to a machine outside AWS, through the Failback Client."""
    state = (instance.get("failback") or {}).get("state", "FAILBACK_NOT_STARTED")
    info = instance.get("dataReplicationInfo") or {}
    if state == "FAILBACK_IN_PROGRESS" and info:
        found = replication_of(machine, info, [])
        return found.model_copy(update={"phase": "initial_sync" if found.phase == "continuous" else found.phase})
    phase, detail = FAILBACK.get(state, ("initial_sync", state.lower()))
    ready = phase == "continuous"
    return MachineReplication(machine=machine, phase=phase, points=1 if ready else 0,
                              latest_point=now if ready else None,
                              detail=f"{detail} ({instance['recoveryInstanceID']})")


async def servers_by_id(api: Api, ids: list[str]) -> dict[str, Item]:
    """Source servers of this region by id; ids of other regions are simply absent."""
    found: dict[str, Item] = {}
    for part in chunks(sorted(set(ids))):
        names = ",".join(part[:3]) + (f" (+{len(part) - 3})" if len(part) > 3 else "")
        items = await api.pages("drs", "describe_source_servers", "items", names, filters={"sourceServerIDs": part})
        found.update({item["sourceServerID"]: item for item in items})
    return found


async def all_servers(api: Api) -> list[Item]:
    """Every source server of this region."""
    return await api.pages("drs", "describe_source_servers", "items", filters={})


async def servers_of(api: Api, runbook: str, machines: list[MachineRef]) -> dict[str, Item]:
    """Each machine's source server in the api's region: by `source_id`, else the newest tagged for it.

    Reverse replication creates source servers in the other region; Standby tags them with the runbook and machine.
    """
    ids = {m.name: m.config.source_id for m in machines if m.config.source_id}
    by_id = await servers_by_id(api, list(ids.values()))
    found = {name: by_id[i] for name, i in ids.items() if i in by_id}
    if len(found) < len(machines):
        tagged = [s for s in await all_servers(api) if tags_of(s).get(RUNBOOK) == runbook]
        for machine in (m for m in machines if m.name not in found):
            mine = [s for s in tagged if tags_of(s).get(MACHINE) == machine.name]
            if mine:
                found[machine.name] = max(mine, key=_added)
    return found


async def snapshots(api: Api, server: str, newest: int | None = None) -> list[Item]:
    """Recovery snapshots of a source server: all oldest first, or the `newest` few newest first."""
    if newest is not None:
        page = await api.do("drs", "describe_recovery_snapshots", server, sourceServerID=server, order="DESC",
                            maxResults=newest)
        return page.get("items", [])
    return await api.pages("drs", "describe_recovery_snapshots", "items", server, sourceServerID=server, order="ASC")


async def recovery_instances(api: Api, servers: list[str] | None = None,
                             instances: list[str] | None = None) -> list[Item]:
    """Recovery instances of some source servers, or by id."""
    found: list[Item] = []
    field, ids = ("sourceServerIDs", servers) if servers is not None else ("recoveryInstanceIDs", instances or [])
    for part in chunks(sorted(set(ids))):
        found += await api.pages("drs", "describe_recovery_instances", "items", filters={field: part})
    return found


async def jobs_tagged(api: Api, key: str | None = None, prefix: str | None = None, days: float = 30) -> list[Item]:
    """Launch jobs of the last `days` whose `standby:key` tag is `key` or starts with `prefix`."""
    jobs = await api.pages("drs", "describe_jobs", "items", filters={"fromDate": since(days)})
    keys = [(job, tags_of(job).get(KEY)) for job in jobs]
    return [job for job, tag in keys if tag and (tag == key or (prefix is not None and tag.startswith(prefix)))]


async def launched(api: Api, keys: set[str]) -> dict[tuple[str, str], Item]:
    """The recent launch job of each (key, source server) that did not fail: what a retried launch finds."""
    found: dict[tuple[str, str], Item] = {}
    for key in keys:
        for job in await jobs_tagged(api, key=key, days=2):
            for part in job.get("participatingServers", []):
                if part.get("launchStatus") != "FAILED":
                    found[(key, part["sourceServerID"])] = job
    return found


def heartbeat(detail: str) -> None:
    """Report progress of a long DRS job to Temporal (no-op outside an activity)."""
    if activity.in_activity():
        activity.heartbeat(detail)


async def _last_event(api: Api, job: str) -> str:
    items = await api.pages("drs", "describe_job_log_items", "items", jobID=job)
    if not items:
        return "queued"
    last = items[-1]
    return last.get("event", "").lower().replace("_", " ") + (
        f" ({last['eventData'].get('sourceServerID', '')})" if last.get("eventData") else "")


async def wait_jobs(api: Api, ids: list[str], poll: float) -> dict[str, Item]:
    """Wait until every job is COMPLETED, heartbeating with each pending job's last log event."""
    while True:
        jobs: dict[str, Item] = {}
        for part in chunks(sorted(set(ids)), JOB_IDS):
            for job in await api.pages("drs", "describe_jobs", "items", filters={"jobIDs": part}):
                jobs[job["jobID"]] = job
        pending = [job_id for job_id in ids if jobs.get(job_id, {}).get("status") != "COMPLETED"]
        if not pending:
            return jobs
        heartbeat("; ".join([f"{job_id}: {await _last_event(api, job_id)}" for job_id in pending[:5]]))
        await asyncio.sleep(poll)


async def failure_of(api: Api, job: str, server: str) -> str:
    """Why a server's launch failed in a job, from the job log."""
    items = await api.pages("drs", "describe_job_log_items", "items", server, jobID=job)
    errors = [i["eventData"].get("rawError", "") for i in items
              if i.get("eventData", {}).get("sourceServerID") == server and i["eventData"].get("rawError")]
    return errors[-1] if errors else "see the job log in the DRS console"


async def mark_paused(api: Api, servers: list[Item], paused: bool) -> None:
    """Record on each source server that Standby paused its replication, or clear the record when it resumes.

    DRS has no pause that keeps recovery points: StopReplication deletes the server's snapshots, and
    DisconnectSourceServer uninstalls the agent and deletes the replication resources. A failover pauses replication
    just before it launches from those snapshots, so DRS keeps replicating and the pause is Standby's record only.
    """
    for server in servers:
        marked = tags_of(server).get(REPLICATION) == PAUSED
        if paused and not marked:
            await api.do("drs", "tag_resource", server["sourceServerID"], resourceArn=server["arn"],
                         tags={REPLICATION: PAUSED})
        elif marked and not paused:
            await api.do("drs", "untag_resource", server["sourceServerID"], resourceArn=server["arn"],
                         tagKeys=[REPLICATION])
