"""Drills on AWS apart from production: the site's drill blueprint through a launch template version of the drills'
own, drill instances tagged and removed by the drill's cleanup, and an earlier failover's recovery instances removed
for return to normal; against moto's server (EC2: real) and the scripted DRS, whose launch jobs read the template's
default version while they run, as DRS does (it has no emulator: tests/aws_drs_fake.py).
"""

import pytest

from activities.sites.aws import drs
from standby.contracts.sites import DirectionInput, PointsInput, ReplicationInput, TerminateInput
from standby.runbook import Blueprint, DrillBlueprint
from tests.aws_support import REGIONS, Backends, moto, site
from tests.test_aws_provider import IDS, SOURCE, launch_input, machine

DRILL_KEY, FAILOVER_KEY = "standby/aws-shop/drill/run-1", "standby/aws-shop/failover/run-1"


@pytest.fixture
def backends(aws) -> Backends:
    made = Backends(aws)
    yield made
    assert made.problems() == [], "requests or answers outside the DRS service model"


class Networks:
    """Production's VPC and a drill VPC of its own in the recovery region; both subnets map public IPs on launch,
    so only the drill version's "no public IP" keeps one off a drill instance."""

    def __init__(self, url: str):
        self.ec2 = moto(url, "ec2", REGIONS[1])
        self.subnet, self.group = self._vpc("10.20.0.0/16", "10.20.1.0/24")
        self.drill_subnet, self.drill_group = self._vpc("10.99.0.0/16", "10.99.1.0/24")
        self.blueprint = Blueprint(machine_type="r6i.xlarge", subnet=self.subnet, security_groups=[self.group],
                                   private_ip="10.20.1.10")
        self.dr = site("dr", REGIONS[1], drill=DrillBlueprint(subnet=self.drill_subnet,
                                                              security_groups=[self.drill_group]))

    def _vpc(self, cidr: str, subnet_cidr: str) -> tuple[str, str]:
        vpc = self.ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
        self.ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
        group = self.ec2.create_security_group(GroupName=f"g{cidr}", Description="g", VpcId=vpc)["GroupId"]
        return subnet, group

    def instance(self, ident: str) -> dict:
        return self.ec2.describe_instances(InstanceIds=[ident])["Reservations"][0]["Instances"][0]

    def versions(self, template: str) -> dict[int, dict]:
        found = self.ec2.describe_launch_template_versions(LaunchTemplateId=template)["LaunchTemplateVersions"]
        return {v["VersionNumber"]: v for v in found}

    def default(self, template: str) -> int:
        return next(n for n, v in self.versions(template).items() if v["DefaultVersion"])


@pytest.fixture
def networks(backends) -> Networks:
    return Networks(backends.url)


def tags(instance: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in instance.get("Tags", [])}


async def test_a_drill_launches_from_its_own_version_into_the_drill_network_and_a_failover_from_its_own(
        backends, networks):
    template = backends.template(REGIONS[1], "drs-db1")
    backends.world.add_server(REGIONS[1], IDS[0], template=template)
    provider, db = backends.provider(networks.dr), machine(0, networks.blueprint)
    drill = await provider.launch(launch_input(db, key=DRILL_KEY, site_ref=networks.dr))
    launched = networks.instance(drill.target_id)
    nic = launched["NetworkInterfaces"][0]
    assert (launched["SubnetId"], [g["GroupId"] for g in nic["Groups"]]) == (networks.drill_subnet,
                                                                             [networks.drill_group])
    assert "PublicIpAddress" not in launched and launched["PrivateIpAddress"].startswith("10.99.1.")
    assert tags(launched)[drs.DRILL] == DRILL_KEY and drs.CREATED not in tags(launched)
    versions = networks.versions(template)
    assert networks.default(template) == 1, "the drill gave the default back once DRS had launched"
    assert versions[2]["VersionDescription"] == "standby drill (from version 1)"
    assert versions[2]["LaunchTemplateData"]["NetworkInterfaces"] == [{
        "AssociatePublicIpAddress": False, "DeviceIndex": 0, "Groups": [networks.drill_group],
        "SubnetId": networks.drill_subnet}], "the drill network, without production's private IP"

    failover = await provider.launch(launch_input(db, key=FAILOVER_KEY, mode="recovery", site_ref=networks.dr))
    recovered = networks.instance(failover.target_id)
    assert (recovered["SubnetId"], recovered["PrivateIpAddress"]) == (networks.subnet, "10.20.1.10")
    assert networks.versions(template)[2] == versions[2], "the drill's version is left as it was"
    assert networks.versions(template)[3]["VersionDescription"] == "standby blueprint"
    assert networks.default(template) == 3
    assert tags(recovered)[drs.CREATED] == FAILOVER_KEY and drs.DRILL not in tags(recovered)

    again = await provider.launch(launch_input(db, key="standby/aws-shop/drill/run-2", site_ref=networks.dr))
    assert networks.instance(again.target_id)["SubnetId"] == networks.drill_subnet
    assert sorted(networks.versions(template)) == [1, 2, 3, 4] and networks.default(template) == 3
    assert networks.versions(template)[4]["VersionDescription"] == "standby drill (from version 3)"


async def test_a_drill_that_died_holding_the_default_never_sends_a_failover_into_the_drill_network(backends, networks):
    template = backends.template(REGIONS[1], "drs-db1")
    backends.world.add_server(REGIONS[1], IDS[0], template=template)
    provider, db = backends.provider(networks.dr), machine(0, networks.blueprint)
    await provider.launch(launch_input(db, key=DRILL_KEY, site_ref=networks.dr))
    # What a worker that died between StartRecovery and giving the default back leaves behind.
    networks.ec2.modify_launch_template(LaunchTemplateId=template, DefaultVersion="2")
    recovered = await provider.launch(launch_input(db, key=FAILOVER_KEY, mode="recovery", site_ref=networks.dr))
    assert networks.instance(recovered.target_id)["SubnetId"] == networks.subnet
    assert networks.default(template) == 3 and networks.versions(template)[3]["VersionDescription"] == \
        "standby blueprint"

    networks.ec2.modify_launch_template(LaunchTemplateId=template, DefaultVersion="2")
    assert await provider.terminate(TerminateInput(site=networks.dr, key=DRILL_KEY)) != []
    assert networks.default(template) == 1, "the drill's cleanup gives the default back to the version made from"


async def test_the_drills_cleanup_terminates_through_drs_and_ec2_and_waits_until_they_are_gone(backends, networks):
    for ident in IDS[:3]:
        backends.world.add_server(REGIONS[1], ident, template=backends.template(REGIONS[1], f"drs-{ident}"))
    provider = backends.provider(networks.dr)
    drilled = [await provider.launch(launch_input(machine(n), key=DRILL_KEY, site_ref=networks.dr)) for n in (0, 1)]
    live = await provider.launch(launch_input(machine(2), key=FAILOVER_KEY, mode="recovery", site_ref=networks.dr))
    # DRS forgot one drill instance (its record deleted, its job past DRS's history); its EC2 tags remain.
    forgotten = backends.world.instances.pop(drilled[1].target_id)
    backends.world.jobs.pop(forgotten["jobID"])
    removed = await provider.terminate(TerminateInput(site=networks.dr, key=DRILL_KEY))
    assert sorted(removed) == sorted(t.target_id for t in drilled)
    stub = backends.stubs[REGIONS[1]]
    assert stub.called("TerminateRecoveryInstances") == [{"recoveryInstanceIDs": [drilled[0].target_id]}]
    states = {t.target_id: networks.instance(t.target_id)["State"]["Name"] for t in [*drilled, live]}
    assert states == {drilled[0].target_id: "terminated", drilled[1].target_id: "terminated",
                      live.target_id: "running"}, "gone in EC2, the failover's instance untouched"
    assert await provider.terminate(TerminateInput(site=networks.dr, key=DRILL_KEY)) == []


async def test_return_to_normal_removes_what_the_failover_created_never_an_original_instance(backends, networks):
    backends.world.add_server(REGIONS[1], IDS[0], template=backends.template(REGIONS[1], "drs-m0"))
    backends.world.add_server(REGIONS[1], IDS[1], template=backends.template(REGIONS[1], "drs-m1"))
    source_ec2 = moto(backends.url, "ec2", REGIONS[0])
    mark = [{"ResourceType": "instance", "Tags": [{"Key": drs.RUNBOOK, "Value": "aws-shop"},
                                                  {"Key": drs.MACHINE, "Value": "m1"}]}]
    original = source_ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                        TagSpecifications=mark)["Instances"][0]["InstanceId"]
    source_ec2.stop_instances(InstanceIds=[original])
    dr, source = backends.provider(networks.dr), backends.provider(SOURCE)
    failed_over = [await dr.launch(launch_input(machine(n), key=FAILOVER_KEY, mode="recovery", site_ref=networks.dr))
                   for n in (0, 1)]
    drill = await dr.launch(launch_input(machine(0), key=DRILL_KEY, site_ref=networks.dr))
    await source.set_direction(DirectionInput(source=networks.dr, target=SOURCE, machines=[machine(1)]))
    back = ReplicationInput(source=networks.dr, target=SOURCE, machines=[machine(1)])
    phases = [(await source.replication(back))[0].phase for _ in range(4)]
    assert phases[-1] == "continuous"
    point = (await source.recovery_points(PointsInput(source=networks.dr, target=SOURCE, machine=machine(1))))[-1]
    failed_back = await source.launch(launch_input(machine(1), mode="recovery", key="standby/aws-shop/failback/r1",
                                                   point=point, site_ref=SOURCE, source=networks.dr))
    assert failed_back.target_id == original

    everything = TerminateInput(site=SOURCE, prefix="standby/aws-shop/", recovery=True)
    assert await source.terminate(everything) == [], "the original instance a failback launched into stays"
    earlier = TerminateInput(site=networks.dr, prefix="standby/aws-shop/failover/", recovery=True)
    assert sorted(await dr.terminate(earlier)) == sorted(t.target_id for t in failed_over)
    assert backends.stubs[REGIONS[1]].called("TerminateRecoveryInstances") == [
        {"recoveryInstanceIDs": [t.target_id for t in failed_over]}]
    assert networks.instance(drill.target_id)["State"]["Name"] == "running", "another key's drill is its own to clean"
    assert moto(backends.url, "ec2", REGIONS[0]).describe_instances(InstanceIds=[original])[
        "Reservations"][0]["Instances"][0]["State"]["Name"] == "running"
