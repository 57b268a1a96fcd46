"""A drill of an AWS runbook through its owner, on the Temporal dev server with workers for the shared queue and
both site queues: its instance lands in the drill network, and its cleanup (the plan's last step, always run)
terminates it and leaves the launch template as failovers use it. EC2 is moto's server; DRS is scripted behind a
Stubber (it has no emulator), every call checked against its service model.
"""

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta

import yaml

from activities import registry
from activities.sites.aws import PROVIDER as AWS
from activities.sites.aws import drs
from activities.sites.registry import Providers
from standby.loader import load
from tests.aws_support import AMI, REGIONS, Backends, moto
from tests.conftest import serving
from tests.ops_helpers import finished, request, start_protect, stop_workflows
from tests.test_aws_drill_isolation import Networks, tags

SERVER = "s-1234567890abcdef0"


def runbook_file(tmp, networks: Networks, health_port: int):
    """A one-machine runbook: db1 replicated from eu-central-1 into eu-west-1, drilled in a VPC of its own."""
    name = f"aws-drill-{uuid.uuid4().hex[:6]}"
    document = {
        "runbook": name,
        "sites": {"source": {"provider": "aws", "region": REGIONS[0]},
                  "dr": {"provider": "aws", "region": REGIONS[1],
                         "drill": {"subnet": networks.drill_subnet, "security_groups": [networks.drill_group]}}},
        "protection": {"source": "source", "target": "dr"},
        "machines": {"db1": {"source_id": SERVER, "blueprint": {
            "subnet": networks.subnet, "security_groups": [networks.group], "private_ip": "10.20.1.10"}}},
        "apps": {"db": {"machines": ["db1"], "health": [{"tcp": {"host": "127.0.0.1", "port": health_port}}]}},
        "groups": [{"name": "data", "apps": ["db"]}],
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load(path)


async def test_a_drill_through_the_owner_launches_in_the_drill_network_and_cleans_up(client, task_queue, aws,
                                                                                     tmp_path, state_dir):
    backends, networks = Backends(aws), Networks(aws)
    template = backends.template(REGIONS[1], "drs-db1")
    backends.world.add_server(REGIONS[1], SERVER, template=template)
    health = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    runbook = runbook_file(tmp_path, networks, health.sockets[0].getsockname()[1])
    moto(aws, "ec2", REGIONS[0]).run_instances(ImageId=AMI, MinCount=1, MaxCount=1, TagSpecifications=[{
        "ResourceType": "instance", "Tags": [{"Key": drs.RUNBOOK, "Value": runbook.runbook},
                                             {"Key": drs.MACHINE, "Value": "db1"}]}])
    activities = registry.build(state_dir, Providers(state_dir, [
        replace(AWS, factory=lambda ref, _: backends.provider(ref, poll=0.05))]))
    owner = None
    async with serving(client, task_queue, activities, sites=["source", "dr"]):
        try:
            owner = await start_protect(client, runbook, task_queue)
            drill = await request(client, runbook, task_queue, "drill", yes=True, keep_for=timedelta(seconds=0))
            result = await finished(drill, 60)
        finally:
            await stop_workflows(owner)
    health.close()
    assert result.state == "passed", result.error
    drilled = [i for r in networks.ec2.describe_instances()["Reservations"] for i in r["Instances"]
               if drs.DRILL in tags(i)]
    assert [(i["SubnetId"], i["State"]["Name"]) for i in drilled] == [(networks.drill_subnet, "terminated")]
    assert tags(drilled[0])[drs.DRILL].startswith(f"standby/{runbook.runbook}/drill/")
    assert backends.stubs[REGIONS[1]].called("TerminateRecoveryInstances") == [
        {"recoveryInstanceIDs": [drilled[0]["InstanceId"]]}]
    assert networks.default(template) == 1 and networks.versions(template)[2]["VersionDescription"] == \
        "standby drill (from version 1)", "failovers still launch from the version they use"
    assert backends.problems() == []
