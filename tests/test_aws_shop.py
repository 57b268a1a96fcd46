"""`runbooks/aws-shop.yaml` drills, fails over, fails back and returns to normal through the `standby` CLI, on the
Temporal dev server, with EC2, Route 53, SSM, STS and S3 from moto's server and DRS scripted behind a Stubber.

Why DRS is stubbed: it has no emulator; the scripted DRS validates every call against botocore's DRS model and
runs its recovery launches as real moto EC2 instances. The runbook is a copy of aws-shop.yaml whose AWS ids are the
ones moto made, whose health checks reach a stand-in service on 127.0.0.1 (moto's instances run nothing), and whose
on-premises db1 fails back from image files through a replication endpoint on 127.0.0.1.

The runbook's owner starts knowing every app protected: DRS replicates the shop already, outside Standby, and
`standby protect` cannot bring db1 up (it runs in the data centre, not on EC2).
"""

import asyncio
import uuid
from dataclasses import replace
from pathlib import Path

import yaml
from click.testing import CliRunner

from activities import registry
from activities.sites.aws import PROVIDER as AWS
from activities.sites.aws.drs import MACHINE, RUNBOOK
from activities.sites.registry import Providers
from standby import client as temporal
from standby import lifecycle
from standby.cli import main
from standby.contracts.failback import TOKEN_ENV
from standby.contracts.protect import OwnerStatus
from standby.contracts.sites import MachineReplication
from standby.loader import load
from tests.aws_support import AMI, REGIONS, Backends, moto
from tests.conftest import serving
from tests.ops_helpers import settings_for, stop_workflows, waiting_prompt
from tests.test_aws_failback_client import free_port

ROOT = Path(__file__).resolve().parent.parent
SOURCE, DR = REGIONS
SERVERS = {"db1": "s-1234567890abcdef0", "app1": "s-1234567890abcdef1", "app2": "s-1234567890abcdef2",
           "web1": "s-1234567890abcdef3"}


def prepare(backends: Backends, tmp: Path, health_port: int, replication_port: int,
            source_url: str | None = None) -> tuple[Path, str]:
    """moto's resources for aws-shop, the scripted DRS's source servers, and the runbook copy that names them; the
    source region's EC2 instances in the moto at `source_url` (default: the one of both regions)."""
    url, ec2 = backends.url, moto(backends.url, "ec2", DR)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ids = {f"subnet-0a1b2c3d4e5f6000{n}":
           ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{n}.0/24")["Subnet"]["SubnetId"] for n in (1, 2, 3)}
    ids |= {f"sg-0a1b2c3d4e5f6000{n}":
            ec2.create_security_group(GroupName=f"g{n}", Description="g", VpcId=vpc)["GroupId"] for n in (1, 2, 3, 4)}
    isolated = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]  # the drills' own VPC
    ids["subnet-0a1b2c3d4e5f60009"] = ec2.create_subnet(VpcId=isolated, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"]
    ids["sg-0a1b2c3d4e5f60009"] = ec2.create_security_group(GroupName="dr", Description="d", VpcId=isolated)["GroupId"]
    ids["h-0123456789abcdef0"] = ec2.allocate_hosts(AvailabilityZone=f"{DR}a", InstanceType="m6i.large",
                                                    Quantity=1)["HostIds"][0]
    zone = moto(url, "route53", DR).create_hosted_zone(Name="shop.example.org", CallerReference="t")["HostedZone"]["Id"]
    ids["Z0123456789ABCDEFGHIJ"] = zone.split("/")[-1]
    for machine, server in SERVERS.items():
        backends.world.add_server(DR, server, template=backends.template(DR, f"drs-{machine}"))
    name = f"aws-shop-{uuid.uuid4().hex[:6]}"
    source = moto(source_url or url, "ec2", SOURCE)
    for machine in ("app1", "app2", "web1"):
        tags = [{"ResourceType": "instance",
                 "Tags": [{"Key": RUNBOOK, "Value": name}, {"Key": MACHINE, "Value": machine}]}]
        source.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, TagSpecifications=tags)
    s3 = moto(url, "s3", DR)
    s3.create_bucket(Bucket="drs-software", CreateBucketConfiguration={"LocationConstraint": DR})
    s3.put_object(Bucket="drs-software", Key="aws-failback-installer", Body=b"#!/bin/sh\n", ACL="public-read")
    text = (ROOT / "runbooks" / "aws-shop.yaml").read_text()
    for old, new in ids.items():
        text = text.replace(old, new)
    document = yaml.safe_load(text)
    document["runbook"] = name
    document["sites"]["dr"]["replication_software_url"] = f"{url}/drs-software/aws-failback-installer"
    for device, size in backends.world.disks:
        (tmp / device.rsplit("/", 1)[1]).write_bytes(b"\0" * size)
    document["machines"]["db1"]["failback"].update(
        volumes={d: str(tmp / d.rsplit("/", 1)[1]) for d, _ in backends.world.disks},
        replication_host="127.0.0.1", replication_port=replication_port)
    for app in document["apps"].values():
        for check in app["health"]:
            next(iter(check[k] for k in ("tcp", "http") if k in check)).update(host="127.0.0.1", port=health_port)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path, name


async def standby(client, task_queue: str, *args: str) -> str:
    """Run the `standby` CLI in a thread (it runs its own event loop) against the test's server and queue."""
    env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host, "STANDBY_TASK_QUEUE": task_queue}
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)
    assert result.exit_code == 0, f"standby {' '.join(args)} exited {result.exit_code}:\n{result.output}"
    return result.output


async def until_prompt_then_continue(client, task_queue: str, ident: str) -> None:
    """Wait at the operation's prompt (in it or its group), answer it with `standby continue`, wait for the end."""
    handle = client.get_workflow_handle(ident)
    await waiting_prompt(client, handle, "DBA: confirm", timeout=60)
    await standby(client, task_queue, "continue", ident)
    await asyncio.wait_for(handle.result(), 60)


def records(url: str, zone: str) -> dict[str, list[str]]:
    found = moto(url, "route53", DR).list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {r["Name"].rstrip("."): sorted(v["Value"] for v in r.get("ResourceRecords", []))
            for r in found if r["Type"] == "A"}


def instance_states(url: str, region: str) -> dict[str, str]:
    reservations = moto(url, "ec2", region).describe_instances()["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}


async def test_aws_shop_drills_fails_over_fails_back_and_returns(client, task_queue, aws, tmp_path, state_dir, service,
                                                                 monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "AKIAFAILBACKTEST0001:secret")
    backends, replication = Backends(aws), await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", free_port())
    backends.world.sync = ["INITIAL_SYNC", "CONTINUOUS"]  # each step is one 2 s poll of the operation: keep it short
    path, name = prepare(backends, tmp_path, service, replication.sockets[0].getsockname()[1])
    zone = yaml.safe_load(path.read_text())["apps"]["db"]["endpoint"]["zone"]
    activities = registry.build(state_dir, Providers(state_dir, [
        replace(AWS, factory=lambda ref, _: backends.provider(ref, poll=0.05))]))
    runbook = load(path)
    owner = await temporal.start_owner(client, settings_for(task_queue), runbook, lifecycle.protected(runbook))
    async with serving(client, task_queue, activities):
        drilled = await standby(client, task_queue, "drill", str(path), "--yes", "--keep-for", "1s")
        assert f"standby/{name}/drill: passed" in drilled
        drills = [c for s in backends.stubs.values() for c in s.called("StartRecovery") if c["isDrill"]]
        # One StartRecovery per batch: db, api's two machines together, web (it starts once api is healthy).
        assert sorted(len(c["sourceServers"]) for c in drills) == [1, 1, 2]
        assert not [i for i in backends.world.instances.values() if i["isDrill"]]

        await standby(client, task_queue, "failover", str(path), "--yes", "--detach")
        await until_prompt_then_continue(client, task_queue, f"standby/{name}/failover")
        assert records(aws, zone) == {"db.shop.example.org": ["10.20.1.10"], "www.shop.example.org": ["10.20.3.10"],
                                      "api.shop.example.org": ["10.20.2.10", "10.20.2.11"]}
        assert set(instance_states(aws, SOURCE).values()) == {"stopped"}, "the EC2 sources stop before recovery"
        ssm = moto(aws, "ssm", DR).list_commands()["Commands"]
        assert sorted(c["Parameters"]["commands"][0] for c in ssm) == sorted(2 * [  # drill and failover
            "/opt/shop/bin/fix-readonly-disks.sh db", *["/opt/shop/bin/point-at-db.sh db.shop.example.org"] * 2])

        await standby(client, task_queue, "failback", str(path), "--yes", "--detach")
        await until_prompt_then_continue(client, task_queue, f"standby/{name}/failback")
        failed_back = records(aws, zone)
        assert failed_back["db.shop.example.org"] == ["10.1.5.10"], "db1 is back in the data centre"
        originals = moto(aws, "ec2", SOURCE).describe_instances()["Reservations"]
        assert failed_back["www.shop.example.org"] == [i["PrivateIpAddress"] for r in originals for i in r["Instances"]
                                                       if {"Key": MACHINE, "Value": "web1"} in i["Tags"]]
        assert set(instance_states(aws, SOURCE).values()) == {"running"}, "launched into the original instances"
        assert backends.stubs[DR].called("StartFailbackLaunch")
        assert len(backends.stubs[DR].called("ReverseReplication")) == 3
        client_run = client.get_workflow_handle(f"standby/{name}/failback/failback-client/db1",
                                                result_type=MachineReplication)
        assert (await client_run.result()).phase == "continuous", "db1 came back through the Failback Client"

        returned = await standby(client, task_queue, "return", str(path), "--yes")
        assert f"standby/{name}/return: normal" in returned
        assert backends.world.servers[SERVERS["db1"]]["states"] == ["CONTINUOUS"]
        truth = (await owner.query("status", result_type=OwnerStatus)).truth
        assert {app: (s.phase, s.serving, s.source, s.target) for app, s in truth.apps.items()} == {
            app: ("protected", "source", "source", "dr") for app in ("db", "api", "web")}
        await stop_workflows(owner)
    replication.close()
    assert backends.problems() == []
