"""The aws provider against moto's server (EC2, Route 53, SSM: real, reset per test) and a scripted DRS.

DRS is stubbed because it has no emulator: `ScriptedDrs` answers through botocore's Stubber, so every request is
validated against the real DRS service model and every answer against its output shape (tests/aws_drs_fake.py).
"""

from datetime import UTC, datetime

import pytest

from activities.sites.aws import drs
from activities.sites.aws.provider import OUTSIDE_FENCED, AwsSiteProvider
from activities.sites.base import PermanentProviderError
from standby.contracts.sites import (
    AppInput,
    AppRef,
    DirectionInput,
    IdentityInput,
    LaunchInput,
    MachineRef,
    PointsInput,
    RecoveryPoint,
    ReplicationInput,
    Target,
    TerminateInput,
)
from standby.runbook import App, Blueprint, Endpoint, Machine
from tests.aws_support import REGIONS, Backends, clients, moto, site, strict_stub

SOURCE, DR = site("source", REGIONS[0]), site("dr", REGIONS[1])
IDS = [f"s-{i:017d}" for i in range(4)]


def machine(index: int, blueprint: Blueprint | None = None, **extra) -> MachineRef:
    return MachineRef(name=f"m{index}", index=index, config=Machine(source_id=IDS[index], blueprint=blueprint, **extra))


def app(*machines: MachineRef, endpoint: Endpoint | None = None) -> AppRef:
    config = App(machines=[m.name for m in machines], endpoint=endpoint)
    return AppRef(name="app", config=config, machines=list(machines))


def launch_input(m: MachineRef, key: str = "standby/aws-shop/drill/run-1", mode: str = "test",
                 point: RecoveryPoint | None = None, site_ref=DR, source=SOURCE) -> LaunchInput:
    return LaunchInput(key=key, site=site_ref, source=source, app=app(m), machine=m, mode=mode, point=point)


@pytest.fixture
def backends(aws) -> Backends:
    made = Backends(aws)
    yield made
    assert made.problems() == [], "requests or answers outside the DRS service model"


@pytest.fixture
def network(backends):
    """A subnet and security group in the recovery region, as a blueprint names them."""
    ec2 = moto(backends.url, "ec2", REGIONS[1])
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    return subnet, group


def test_drs_states_read_as_standby_phases():
    info = {"dataReplicationState": "INITIAL_SYNC", "lagDuration": "PT1M30S",
            "replicatedDisks": [{"totalStorageBytes": 200, "replicatedStorageBytes": 50, "backloggedStorageBytes": 0}]}
    state = drs.replication_of("db1", info, [])
    assert (state.phase, state.percent, state.lag_seconds, state.points) == ("initial_sync", 25.0, 90.0, 0)
    stalled = {"dataReplicationState": "STALLED", "dataReplicationError": {"error": "AGENT_NOT_SEEN"}}
    assert drs.replication_of("db1", stalled, []).detail == "AGENT_NOT_SEEN"
    backlog = {"dataReplicationState": "BACKLOG", "replicatedDisks": [{"backloggedStorageBytes": 7}]}
    assert drs.replication_of("db1", backlog, []).backlog_bytes == 7
    phases = {s: drs.replication_of("m", {"dataReplicationState": s}, []).phase
              for s in ("INITIATING", "CREATING_SNAPSHOT", "CONTINUOUS", "DISCONNECTED")}
    assert phases == {"INITIATING": "initiating", "CREATING_SNAPSHOT": "creating_first_point",
                      "CONTINUOUS": "continuous", "DISCONNECTED": "stopped"}
    assert drs.seconds("P1DT2H") == 93600.0


async def test_replication_reports_each_machine_with_its_newest_points(backends):
    backends.world.add_server(REGIONS[1], IDS[0], states=["CONTINUOUS"], points=3)
    backends.world.add_server(REGIONS[1], IDS[1],
                              states=["INITIATING", "INITIAL_SYNC", "CREATING_SNAPSHOT", "CONTINUOUS"], points=0)
    provider = backends.provider(DR)
    inp = ReplicationInput(source=SOURCE, target=DR, machines=[machine(0), machine(1)])
    rounds = [{s.machine: s for s in await provider.replication(inp)} for _ in range(4)]
    assert [r["m1"].phase for r in rounds] == ["initiating", "initial_sync", "creating_first_point", "continuous"]
    assert rounds[1]["m1"].percent == 50.0 and rounds[0]["m1"].points == 0 and rounds[3]["m1"].points == 1
    assert {(r["m0"].phase, r["m0"].points) for r in rounds} == {("continuous", 3)}
    assert rounds[0]["m0"].latest_point is not None and rounds[0]["m0"].lag_seconds == 5.0
    missing = await provider.replication(ReplicationInput(source=SOURCE, target=DR, machines=[machine(2)]))
    assert missing[0].phase == "stopped" and "no source server for m2" in missing[0].detail


async def test_a_drill_launch_applies_the_blueprint_and_a_retry_finds_its_job(backends, network):
    subnet, group = network
    template = backends.template(REGIONS[1], "drs-db1")
    server = backends.world.add_server(REGIONS[1], IDS[0], template=template)
    blueprint = Blueprint(machine_type="r6i.xlarge", launch_type="dedicated-instance", subnet=subnet,
                          security_groups=[group], private_ip="10.20.1.10")
    point = RecoveryPoint(id=server["snapshots"][0]["snapshotID"], time=datetime.now(UTC))
    provider = backends.provider(DR)
    first = await provider.launch(launch_input(machine(0, blueprint), point=point))
    again = await provider.launch(launch_input(machine(0, blueprint), point=point))
    assert again == first and first.mode == "test" and first.point_id == point.id
    started = backends.stubs[REGIONS[1]].called("StartRecovery")
    assert started == [{"sourceServers": [{"sourceServerID": IDS[0], "recoverySnapshotID": point.id}], "isDrill": True,
                        "tags": {drs.KEY: "standby/aws-shop/drill/run-1", drs.RUNBOOK: "aws-shop",
                                 drs.MODE: "test"}}]
    config = backends.stubs[REGIONS[1]].called("UpdateLaunchConfiguration")
    assert config == [{"sourceServerID": IDS[0], "launchDisposition": "STARTED", "copyPrivateIp": False,
                       "targetInstanceTypeRightSizingMethod": "NONE"}]
    ec2 = moto(backends.url, "ec2", REGIONS[1])
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template)["LaunchTemplateVersions"]
    data = next(v for v in versions if v.get("VersionDescription") == "standby drill (from version 1)")[
        "LaunchTemplateData"]
    assert data["InstanceType"] == "r6i.xlarge" and data["Placement"] == {"Tenancy": "dedicated"}
    assert data["NetworkInterfaces"] == [{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group]}], \
        "drills get no fixed IP"
    instance = ec2.describe_instances(InstanceIds=[first.target_id])["Reservations"][0]["Instances"][0]
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags[drs.MACHINE] == "m0" and tags[drs.MODE] == "test" and first.address == instance["PrivateIpAddress"]


async def test_a_recovery_launch_pins_the_private_ip_and_dedicated_host(backends, network):
    subnet, group = network
    ec2 = moto(backends.url, "ec2", REGIONS[1])
    host = ec2.allocate_hosts(AvailabilityZone=f"{REGIONS[1]}a", InstanceType="m6i.large", Quantity=1)["HostIds"][0]
    template = backends.template(REGIONS[1], "drs-app2")
    backends.world.add_server(REGIONS[1], IDS[2], template=template)
    blueprint = Blueprint(machine_type="m6i.large", launch_type="dedicated-host", host=host, subnet=subnet,
                          security_groups=[group], private_ip="10.20.1.11")
    target = await backends.provider(DR).launch(launch_input(machine(2, blueprint), mode="recovery",
                                                             key="standby/aws-shop/failover/run-1"))
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template, Versions=["$Default"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["Placement"] == {"Tenancy": "host", "HostId": host}
    assert data["NetworkInterfaces"][0]["PrivateIpAddress"] == "10.20.1.11" and target.address == "10.20.1.11"
    assert backends.stubs[REGIONS[1]].called("StartRecovery")[0]["isDrill"] is False


async def test_launches_and_terminations_go_to_drs_200_servers_at_a_time(backends):
    template = backends.template(REGIONS[1], "drs-shared")
    ids = [f"s-{i:017d}" for i in range(201)]
    for ident in ids:
        backends.world.add_server(REGIONS[1], ident, template=template, points=1)
    machines = [MachineRef(name=f"m{i}", index=i, config=Machine(source_id=ident)) for i, ident in enumerate(ids)]
    provider = backends.provider(DR)
    targets = await provider.launch_batch([launch_input(m) for m in machines])
    assert len({t.target_id for t in targets}) == 201
    stub = backends.stubs[REGIONS[1]]
    assert [len(c["sourceServers"]) for c in stub.called("StartRecovery")] == [200, 1]
    assert all(len(c["filters"]["sourceServerIDs"]) <= 200 for c in stub.called("DescribeSourceServers"))
    removed = await provider.terminate(TerminateInput(site=DR, prefix="standby/aws-shop/drill"))
    assert sorted(removed) == sorted(t.target_id for t in targets)
    assert [len(c["recoveryInstanceIDs"]) for c in stub.called("TerminateRecoveryInstances")] == [200, 1]


async def test_terminate_removes_only_the_keys_drill_instances(backends):
    template = backends.template(REGIONS[1], "drs-m0")
    for ident in IDS[:2]:
        backends.world.add_server(REGIONS[1], ident, template=template)
    provider = backends.provider(DR)
    drill = await provider.launch(launch_input(machine(0), key="standby/aws-shop/drill/run-1"))
    other = await provider.launch(launch_input(machine(1), key="standby/aws-shop/drill/run-2"))
    live = await provider.launch(launch_input(machine(0), key="standby/aws-shop/failover/run-1", mode="recovery"))
    assert await provider.terminate(TerminateInput(site=DR, key="standby/aws-shop/drill/run-1")) == [drill.target_id]
    assert await provider.terminate(TerminateInput(site=DR, key="standby/aws-shop/drill/run-1")) == []
    ec2 = moto(backends.url, "ec2", REGIONS[1])
    states = {i["InstanceId"]: i["State"]["Name"]
              for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}
    assert states[drill.target_id] == "terminated"
    assert states[other.target_id] == "running" and states[live.target_id] == "running"


async def test_post_launch_commands_run_through_ssm_once_per_launch(backends):
    backends.world.add_server(REGIONS[1], IDS[0], template=backends.template(REGIONS[1], "drs-db1"))
    blueprint = Blueprint(post_launch=[["/opt/shop/bin/fix-readonly-disks.sh", "db"], ["systemctl", "start", "db"]])
    provider = backends.provider(DR)
    first = await provider.launch(launch_input(machine(0, blueprint), mode="recovery", key="k/failover/1"))
    await provider.launch(launch_input(machine(0, blueprint), mode="recovery", key="k/failover/1"))
    commands = moto(backends.url, "ssm", REGIONS[1]).list_commands(InstanceId=first.target_id)["Commands"]
    sent = sorted((c["Comment"].rsplit(" ", 1)[1], c["Parameters"]["commands"][0]) for c in commands)
    assert sent == [("0", "/opt/shop/bin/fix-readonly-disks.sh db"), ("1", "systemctl start db")]


async def test_move_identity_upserts_the_record_with_the_runbooks_ttl(backends):
    route53 = moto(backends.url, "route53", REGIONS[1])
    zone = route53.create_hosted_zone(Name="shop.example.org", CallerReference="t")["HostedZone"]["Id"].split("/")[-1]
    endpoint = Endpoint(name="db.shop.example.org", zone=zone, ttl="30s")
    targets = [Target(key="k", machine="m0", app="app", site="dr", mode="recovery", target_id="i-1",
                      address="10.20.1.10")]
    inp = IdentityInput(runbook="aws-shop", app=app(machine(0), endpoint=endpoint), site=DR, targets=targets)
    answer = await backends.provider(DR).move_identity(inp)
    assert answer == f"db.shop.example.org A 10.20.1.10 (TTL 30s, zone {zone})"
    records = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    record = next(r for r in records if r["Name"].startswith("db.shop.example.org"))
    assert (record["Type"], record["TTL"], record["ResourceRecords"]) == ("A", 30, [{"Value": "10.20.1.10"}])


async def test_stop_and_start_app_act_on_the_machines_tagged_instances(backends):
    ec2 = moto(backends.url, "ec2", REGIONS[0])
    tags = [{"ResourceType": "instance", "Tags": [{"Key": drs.RUNBOOK, "Value": "aws-shop"},
                                                  {"Key": drs.MACHINE, "Value": "m1"}]}]
    launched = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, TagSpecifications=tags)
    ident = launched["Instances"][0]["InstanceId"]
    provider, inp = backends.provider(SOURCE), AppInput(site=SOURCE, app=app(machine(1), machine(0, source="onprem")))
    stopped = await provider.stop_app(inp)
    assert stopped.outcome == {"m1": "stopped", "m0": OUTSIDE_FENCED}
    assert stopped.unstoppable == ["m0"]
    assert (await provider.stop_app(inp)).outcome["m1"] == "not running"
    started = await provider.start_app(AppInput(site=SOURCE, app=app(machine(1))))
    assert [t.target_id for t in started] == [ident]
    state = ec2.describe_instances(InstanceIds=[ident])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"


async def test_failback_of_an_ec2_machine_reverses_replication_and_launches_into_the_original(backends):
    backends.world.add_server(REGIONS[1], IDS[1], template=backends.template(REGIONS[1], "drs-app1"))
    ec2 = moto(backends.url, "ec2", REGIONS[0])
    tags = [{"ResourceType": "instance", "Tags": [{"Key": drs.RUNBOOK, "Value": "aws-shop"},
                                                  {"Key": drs.MACHINE, "Value": "m1"}]}]
    original = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, TagSpecifications=tags)["Instances"][0]
    ec2.stop_instances(InstanceIds=[original["InstanceId"]])
    dr, source = backends.provider(DR), backends.provider(SOURCE)
    await dr.launch(launch_input(machine(1), mode="recovery", key="standby/aws-shop/failover/r1"))
    await source.set_direction(DirectionInput(source=DR, target=SOURCE, machines=[machine(1)]))
    await source.set_direction(DirectionInput(source=DR, target=SOURCE, machines=[machine(1)]))
    inp = ReplicationInput(source=DR, target=SOURCE, machines=[machine(1)])
    phases = [(await source.replication(inp))[0].phase for _ in range(4)]
    assert phases == ["initiating", "initial_sync", "creating_first_point", "continuous"]
    points = await source.recovery_points(PointsInput(source=DR, target=SOURCE, machine=machine(1)))
    back = await source.launch(launch_input(machine(1), mode="recovery", key="standby/aws-shop/failback/r1",
                                            point=points[-1], site_ref=SOURCE, source=DR))
    assert back.target_id == original["InstanceId"] and back.site == "source"
    reversed_ = backends.stubs[REGIONS[1]].called("ReverseReplication")
    assert len(reversed_) == 2, "a second set_direction may reverse again; DRS answers with the same server"


async def test_reverse_replication_makes_exactly_these_drs_calls(aws):
    """A plain queue of answers (Stubber), each request checked against the DRS model and the expected parameters."""
    src, dr = strict_stub(REGIONS[0]), strict_stub(REGIONS[1])
    reversed_arn = "arn:aws:drs:eu-central-1:123456789012:source-server/s-0000000000000000r"
    filters = {"filters": {"sourceServerIDs": [IDS[1]]}}
    src.add_response("describe_source_servers", {"items": []}, filters)
    src.add_response("describe_source_servers", {"items": []}, {"filters": {}})
    dr.add_response("describe_source_servers", {"items": [{"sourceServerID": IDS[1]}]}, filters)
    dr.add_response("describe_recovery_instances", {"items": [
        {"recoveryInstanceID": "i-0123456789abcdef0", "sourceServerID": IDS[1], "isDrill": True},
        {"recoveryInstanceID": "i-0123456789abcdef1", "sourceServerID": IDS[1], "isDrill": False,
         "ec2InstanceState": "RUNNING"}]}, filters)
    dr.add_response("reverse_replication", {"reversedDirectionSourceServerArn": reversed_arn},
                    {"recoveryInstanceID": "i-0123456789abcdef1"})
    src.add_response("tag_resource", {}, {"resourceArn": reversed_arn,
                                          "tags": {drs.RUNBOOK: "aws-shop", drs.MACHINE: "m1"}})
    made = {REGIONS[0]: clients(aws, REGIONS[0], src.client), REGIONS[1]: clients(aws, REGIONS[1], dr.client)}
    provider = AwsSiteProvider(SOURCE, made[REGIONS[0]], peers=lambda ref: made[ref.config.region], poll=0.01)
    await provider.set_direction(DirectionInput(source=DR, target=SOURCE, machines=[machine(1)]))
    src.assert_no_pending_responses()
    dr.assert_no_pending_responses()
    assert src.problems == [] and dr.problems == []


async def test_a_failed_launch_names_the_error_from_the_job_log(backends):
    backends.world.add_server(REGIONS[1], IDS[0], template=backends.template(REGIONS[1], "drs-db1"))
    backends.world.fail_launch[IDS[0]] = "InsufficientInstanceCapacity: no r6i.xlarge in eu-west-1a"
    with pytest.raises(PermanentProviderError,
                       match=r"launch of m0 failed in drsjob-\w+: InsufficientInstanceCapacity: "
                             r"no r6i.xlarge in eu-west-1a \[site=dr, region=eu-west-1, server=s-0+\]"):
        await backends.provider(DR).launch(launch_input(machine(0), mode="recovery"))
