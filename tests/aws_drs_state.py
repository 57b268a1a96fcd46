"""The answers of the test DRS (`tests/aws_drs_fake.py`): one function per operation the provider calls.

States advance per call, never per clock: a job is STARTED at its first DescribeJobs by id and COMPLETED at its
second; a source server takes one step of its replication per DescribeSourceServers that lists it; a paired
failback one step per DescribeRecoveryInstances. Tests stay fast and never depend on timing.
"""

from __future__ import annotations

from typing import Any

from tests.aws_drs_fake import DrsWorld, Fault, Item, new_id, now


def _server(world: DrsWorld, region: str, ident: str) -> Item:
    server = world.servers.get(ident)
    if server is None or server["region"] != region:
        raise Fault("ResourceNotFoundException", f"source server {ident} not found", 404)
    return server


def _item(server: Item) -> Item:
    state, total = server["states"][0], 8192
    done = total // 2 if state in ("INITIATING", "INITIAL_SYNC") else total
    item = {
        "sourceServerID": server["id"],
        "arn": server["arn"],
        "tags": server["tags"],
        "replicationDirection": server["direction"],
        "lifeCycle": {"addedToServiceDateTime": server["added"]},
        "dataReplicationInfo": {
            "dataReplicationState": state,
            "lagDuration": "PT5S",
            "replicatedDisks": [
                {
                    "deviceName": "/dev/xvda",
                    "totalStorageBytes": total,
                    "replicatedStorageBytes": done,
                    "backloggedStorageBytes": 0,
                }
            ],
        },
    }
    if server["reversed"]:
        item["reversedDirectionSourceServerArn"] = server["reversed"]
    if server.get("hostname"):
        item["sourceProperties"] = {
            "identificationHints": {"hostname": server["hostname"], "fqdn": f"{server['hostname']}.corp.example.org"},
            "os": {"fullString": server.get("os") or "Ubuntu 22.04"},
        }
    return item


def _advance(server: Item) -> None:
    if len(server["states"]) > 1:
        server["states"].pop(0)
        if server["states"][0] == "CONTINUOUS":
            server["snapshots"].append(
                {
                    "snapshotID": new_id("pit-"),
                    "sourceServerID": server["id"],
                    "timestamp": now(),
                    "expectedTimestamp": now(),
                }
            )


def describe_source_servers(world: DrsWorld, region: str, filters: Item | None = None, **_: Any) -> Item:
    ids = (filters or {}).get("sourceServerIDs")
    found = [s for s in world.servers.values() if s["region"] == region and (not ids or s["id"] in ids)]
    items = [_item(s) for s in found]
    for server in found:
        _advance(server)
    return {"items": items}


def describe_recovery_snapshots(
    world: DrsWorld, region: str, sourceServerID: str, order: str = "ASC", maxResults: int | None = None, **_: Any
) -> Item:
    snapshots = list(_server(world, region, sourceServerID)["snapshots"])
    snapshots = snapshots[::-1] if order == "DESC" else snapshots
    return {"items": snapshots[:maxResults] if maxResults else snapshots}


def get_launch_configuration(world: DrsWorld, region: str, sourceServerID: str) -> Item:
    server = _server(world, region, sourceServerID)
    return {"sourceServerID": server["id"], "ec2LaunchTemplateID": server["template"], **server["config"]}


def update_launch_configuration(world: DrsWorld, region: str, sourceServerID: str, **changes: Any) -> Item:
    _server(world, region, sourceServerID)["config"].update(changes)
    return get_launch_configuration(world, region, sourceServerID)


def _job(
    world: DrsWorld, region: str, initiated: str, participants: list[Item], tags: Item | None, kind: str = "LAUNCH"
) -> Item:
    ident = new_id("drsjob-")
    job = {
        "jobID": ident,
        "arn": f"arn:aws:drs:{region}:{world.account}:job/{ident}",
        "type": kind,
        "initiatedBy": initiated,
        "creationDateTime": now(),
        "status": "PENDING",
        "participatingServers": participants,
        "tags": dict(tags or {}),
    }
    world.jobs[ident] = {"region": region, "job": job, "log": [{"logDateTime": now(), "event": "JOB_START"}]}
    return {"job": job}


def start_recovery(
    world: DrsWorld, region: str, sourceServers: list[Item], isDrill: bool = False, tags: Item | None = None
) -> Item:
    for source in sourceServers:
        _server(world, region, source["sourceServerID"])
    participants = [{"sourceServerID": s["sourceServerID"], "launchStatus": "PENDING"} for s in sourceServers]
    return _job(world, region, "START_DRILL" if isDrill else "START_RECOVERY", participants, tags)


def start_failback_launch(
    world: DrsWorld, region: str, recoveryInstanceIDs: list[str], tags: Item | None = None
) -> Item:
    participants = [
        {"sourceServerID": world.instances[i]["sourceServerID"], "recoveryInstanceID": i, "launchStatus": "PENDING"}
        for i in recoveryInstanceIDs
    ]
    return _job(world, region, "FAILBACK", participants, tags)


def describe_jobs(world: DrsWorld, region: str, filters: Item | None = None, **_: Any) -> Item:
    ids = (filters or {}).get("jobIDs")
    found = [j for j in world.jobs.values() if j["region"] == region and (not ids or j["job"]["jobID"] in ids)]
    for entry in found:
        if ids:
            _step(world, entry)
    return {"items": [entry["job"] for entry in found]}


def _step(world: DrsWorld, entry: Item) -> None:
    job = entry["job"]
    if job["status"] == "PENDING":
        job["status"] = "STARTED"
        entry["log"].append({"logDateTime": now(), "event": "LAUNCH_START"})
    elif job["status"] == "STARTED":
        launches = []
        for part in job["participatingServers"]:
            if job["initiatedBy"] == "FAILBACK":
                world.instances[part["recoveryInstanceID"]]["failback"]["state"] = "FAILBACK_COMPLETED"
                world.servers[part["sourceServerID"]]["states"] = ["DISCONNECTED"]
                part["launchStatus"] = "LAUNCHED"
            elif job["type"] == "TERMINATE":
                part["launchStatus"] = "TERMINATED"
            elif part["sourceServerID"] in world.fail_launch:
                part["launchStatus"] = "FAILED"
                entry["log"].append(
                    {
                        "logDateTime": now(),
                        "event": "LAUNCH_FAILED",
                        "eventData": {
                            "sourceServerID": part["sourceServerID"],
                            "rawError": world.fail_launch[part["sourceServerID"]],
                        },
                    }
                )
            else:
                launches.append(part)
        _launch(world, job, launches)
        job["status"], job["endDateTime"] = "COMPLETED", now()
        entry["log"].append({"logDateTime": now(), "event": "JOB_END"})


def _launch(world: DrsWorld, job: Item, parts: list[Item]) -> None:
    """Real EC2 instances in moto from each server's launch template (or started: the instance it launches into)."""
    drill, by_template = job["initiatedBy"] == "START_DRILL", {}
    for part in parts:
        server = world.servers[part["sourceServerID"]]
        ec2 = world.ec2(server["region"])
        into = (server["config"].get("launchIntoInstanceProperties") or {}).get("launchIntoEC2InstanceID")
        if into and not drill:
            ec2.start_instances(InstanceIds=[into])
            _record(world, server, job, part, into)
        else:
            by_template.setdefault(server["template"], []).append(part)
    for template, members in by_template.items():
        region = world.servers[members[0]["sourceServerID"]]["region"]
        ec2 = world.ec2(region)
        data = ec2.describe_launch_template_versions(LaunchTemplateId=template, Versions=["$Default"])[
            "LaunchTemplateVersions"
        ][0]["LaunchTemplateData"]
        nic = (data.get("NetworkInterfaces") or [{}])[0]
        extra = {
            k: v
            for k, v in {
                "SubnetId": nic.get("SubnetId"),
                "SecurityGroupIds": nic.get("Groups"),
                "PrivateIpAddress": nic.get("PrivateIpAddress"),
            }.items()
            if v
        }
        if "AssociatePublicIpAddress" in nic:  # only an interface spec says whether the instance gets a public IP
            keep = ("SubnetId", "Groups", "PrivateIpAddress", "AssociatePublicIpAddress")
            extra = {"NetworkInterfaces": [{"DeviceIndex": 0, **{k: v for k, v in nic.items() if k in keep}}]}
        # One instance per call when the template pins a private IP; otherwise all of them at once (fast batches).
        groups = [[m] for m in members] if "PrivateIpAddress" in nic else [members]
        for group in groups:
            made = ec2.run_instances(
                ImageId=data.get("ImageId", "ami-12c6146b"),
                MinCount=len(group),
                MaxCount=len(group),
                InstanceType=data.get("InstanceType", "t3.micro"),
                **extra,
            )
            for part, instance in zip(group, made["Instances"], strict=True):
                _record(world, world.servers[part["sourceServerID"]], job, part, instance["InstanceId"])


def _record(world: DrsWorld, server: Item, job: Item, part: Item, ident: str) -> None:
    part["recoveryInstanceID"], part["launchStatus"] = ident, "LAUNCHED"
    world.instances[ident] = {
        "recoveryInstanceID": ident,
        "ec2InstanceID": ident,
        "ec2InstanceState": "RUNNING",
        "jobID": job["jobID"],
        "sourceServerID": server["id"],
        "arn": f"arn:aws:drs:{server['region']}:{world.account}:recovery-instance/{ident}",
        "tags": {},
        "isDrill": job["initiatedBy"] == "START_DRILL",
        "pointInTimeSnapshotDateTime": server["snapshots"][-1]["timestamp"] if server["snapshots"] else now(),
        "originEnvironment": "AWS",
        "failback": {"state": "FAILBACK_NOT_STARTED", "agentLastSeenByServiceDateTime": now()},
        "recoveryInstanceProperties": {"disks": [{"internalDeviceName": d, "bytes": b} for d, b in world.disks]},
        "_region": server["region"],
        "_paired": False,
    }


def describe_job_log_items(world: DrsWorld, region: str, jobID: str, **_: Any) -> Item:
    return {"items": world.jobs[jobID]["log"] if jobID in world.jobs else []}


FAILBACK_STEPS = {"FAILBACK_NOT_STARTED": "FAILBACK_IN_PROGRESS", "FAILBACK_IN_PROGRESS": "FAILBACK_READY_FOR_LAUNCH"}


def describe_recovery_instances(world: DrsWorld, region: str, filters: Item | None = None, **_: Any) -> Item:
    filters = filters or {}
    found = [
        i
        for i in world.instances.values()
        if i["_region"] == region
        and (not filters.get("recoveryInstanceIDs") or i["recoveryInstanceID"] in filters["recoveryInstanceIDs"])
        and (not filters.get("sourceServerIDs") or i["sourceServerID"] in filters["sourceServerIDs"])
    ]
    if found:
        states = world.ec2(region).describe_instances(InstanceIds=[i["ec2InstanceID"] for i in found])
        for reservation in states["Reservations"]:
            for instance in reservation["Instances"]:
                world.instances[instance["InstanceId"]]["ec2InstanceState"] = instance["State"]["Name"].upper()
    items = [{k: v for k, v in i.items() if not k.startswith("_")} for i in found]
    for instance in found:
        if instance["_paired"]:
            state = instance["failback"]["state"]
            instance["failback"]["state"] = FAILBACK_STEPS.get(state, state)
            replicating = (
                "CONTINUOUS" if instance["failback"]["state"] == "FAILBACK_READY_FOR_LAUNCH" else "INITIAL_SYNC"
            )
            instance["dataReplicationInfo"] = {"dataReplicationState": replicating}
    return {"items": items}


def terminate_recovery_instances(world: DrsWorld, region: str, recoveryInstanceIDs: list[str]) -> Item:
    world.ec2(region).terminate_instances(InstanceIds=recoveryInstanceIDs)
    participants = [
        {"sourceServerID": world.instances.pop(i)["sourceServerID"], "recoveryInstanceID": i, "launchStatus": "PENDING"}
        for i in recoveryInstanceIDs
    ]
    return _job(world, region, "TERMINATE_RECOVERY_INSTANCES", participants, None, kind="TERMINATE")


def reverse_replication(world: DrsWorld, region: str, recoveryInstanceID: str) -> Item:
    instance = world.instances.get(recoveryInstanceID)
    if instance is None or instance["_region"] != region:
        raise Fault("ResourceNotFoundException", f"recovery instance {recoveryInstanceID} not found", 404)
    source = world.servers[instance["sourceServerID"]]
    target = next((s for s in world.servers.values() if s["arn"] == source["reversed"]), None)
    if target is None:
        other = world.other(region)
        template = world.ec2(other).create_launch_template(
            LaunchTemplateName=f"drs-{new_id('lt')}", LaunchTemplateData={"ImageId": "ami-12c6146b"}
        )
        target = world.add_server(
            other,
            states=world.sync,
            points=0,
            template=template["LaunchTemplate"]["LaunchTemplateId"],
            direction="FAILBACK" if source["direction"] == "FAILOVER" else "FAILOVER",
        )
        source["reversed"], target["reversed"] = target["arn"], source["arn"]
    else:
        target["states"] = list(world.sync)
    return {"reversedDirectionSourceServerArn": target["arn"]}


def tag_resource(world: DrsWorld, region: str, resourceArn: str, tags: Item) -> Item:
    server = next((s for s in world.servers.values() if s["arn"] == resourceArn), None)
    if server is None:
        raise Fault("ResourceNotFoundException", f"{resourceArn} not found", 404)
    server["tags"].update(tags)
    return {}


def untag_resource(world: DrsWorld, region: str, resourceArn: str, tagKeys: list[str]) -> Item:
    server = next((s for s in world.servers.values() if s["arn"] == resourceArn), None)
    if server is None:
        raise Fault("ResourceNotFoundException", f"{resourceArn} not found", 404)
    for key in tagKeys:
        server["tags"].pop(key, None)
    return {}


def start_replication(world: DrsWorld, region: str, sourceServerID: str) -> Item:
    server = _server(world, region, sourceServerID)
    server["states"] = list(world.sync)
    return {"sourceServer": _item(server)}


def update_failback_replication_configuration(world: DrsWorld, region: str, recoveryInstanceID: str, **_: Any) -> Item:
    world.instances[recoveryInstanceID]["_paired"] = True
    return {}


def stop_failback(world: DrsWorld, region: str, recoveryInstanceID: str) -> Item:
    instance = world.instances[recoveryInstanceID]
    instance["_paired"], instance["failback"]["state"] = False, "FAILBACK_NOT_STARTED"
    return {}
