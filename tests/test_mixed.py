"""`runbooks/mixed.yaml`, one plan across providers: validated, planned, protected and failed over through its owner
on the Temporal dev server, with its vCenter on vcsim, its AWS region on moto's server (DRS scripted behind a
Stubber, as in tests/test_aws_shop.py: DRS has no emulator) and its local services as real processes on 127.0.0.1.

The runbook is used as written except for what a test environment changes: where the vCenter is, the AWS ids moto
made, free ports for the local services, and the orders database's health check, which reaches a stand-in listener
on 127.0.0.1 (moto's instances run nothing).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from temporalio.client import Client

from activities import registry
from activities.sites.aws import PROVIDER as AWS
from activities.sites.aws.drs import MACHINE
from activities.sites.local import PROVIDER as LOCAL
from activities.sites.registry import Providers
from activities.sites.vsphere import PROVIDER as VSPHERE
from activities.sites.vsphere.provider import VsphereSiteProvider
from activities.sites.vsphere.session import SessionPool
from standby.cli import main
from standby.loader import load
from tests.aws_support import REGIONS, Backends, moto
from tests.conftest import free_block, serving
from tests.helpers import get_json
from tests.ops_helpers import launches, owner_status, request, result_answering, start_protect, stop_workflows
from tests.vcsim_fixture import PASSWORD, USER, Vcsim

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = ROOT / "runbooks" / "mixed.yaml"
DR = REGIONS[1]
SERVER = "s-1234567890abcdef0"


def test_mixed_runbook_validates_and_plans_each_step_by_its_provider() -> None:
    result = CliRunner().invoke(main, ["validate", str(RUNBOOK)])
    assert result.exit_code == 0, result.output
    planned = CliRunner().invoke(main, ["plan", str(RUNBOOK)])
    assert planned.exit_code == 0, planned.output
    lines = [line.strip() for line in planned.output.splitlines()]
    stop = lines.index("4. stop api, orders, ledger on hq in 2 waves, dependents first")
    assert lines[stop + 1] == "by services (local): api1, ledger1; vcenter (vsphere): orders-db"
    assert lines[stop + 2:stop + 4] == ["wave 1: stop api on hq (group services)",
                                        "wave 2: stop orders, ledger on hq (group data)"]
    drain = lines.index("5. drain replication hq -> dr (if the source answered)")
    assert lines[drain + 1] == ("by cloud (aws) from vcenter (vsphere): orders-db; "
                                "services (local) from services (local): ledger1, api1")
    assert any(line.startswith("orders (at once): launch orders-db at dr by cloud (aws);") for line in lines)
    assert any(line.startswith("ledger (at once): launch ledger1 at dr by services (local);") for line in lines)
    assert any(line.startswith("api (at once): launch api1 at dr by services (local);") for line in lines)


def _aws(backends: Backends) -> dict[str, str]:
    """moto's network and zone for the DR region, DRS's source server of orders-db; the runbook's ids -> moto's."""
    ec2 = moto(backends.url, "ec2", DR)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    isolated = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    zone = moto(backends.url, "route53", DR).create_hosted_zone(Name="shop.example.org", CallerReference="t")
    backends.world.add_server(DR, SERVER, template=backends.template(DR, "drs-orders-db"))
    return {
        "subnet-0a1b2c3d4e5f60001": ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"],
        "sg-0a1b2c3d4e5f60001": ec2.create_security_group(GroupName="db", Description="d", VpcId=vpc)["GroupId"],
        "subnet-0a1b2c3d4e5f60009": ec2.create_subnet(VpcId=isolated, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"],
        "sg-0a1b2c3d4e5f60009": ec2.create_security_group(GroupName="dr", Description="d",
                                                          VpcId=isolated)["GroupId"],
        "Z0123456789ABCDEFGHIJ": zone["HostedZone"]["Id"].split("/")[-1],
    }


@pytest.fixture
def mixed(vcsim: Vcsim, aws: str, tmp_path: Path):
    """mixed.yaml pointed at vcsim (one datacenter for hq), at moto, and at free ports; its backends."""
    datacenter = vcsim.datacenter()
    vcsim.add_portgroup(datacenter, "shop-prod")
    vm = vcsim.create_vm(datacenter, "orders-db-01", "shop-prod")
    backends = Backends(aws)
    secret = tmp_path / "vc.ini"
    secret.write_text(f"[vcenter]\nuser = {USER}\npassword = {PASSWORD}\n")
    secret.chmod(0o600)
    hq, dr, public = free_block(3), free_block(3), free_block(3)
    text = RUNBOOK.read_text()
    for old, new in {**_aws(backends), "port_base: 18300": f"port_base: {hq}",
                     "port_base: 18400": f"port_base: {dr}, test_port_base: {free_block(3)}",
                     "port: 18301": f"port: {public + 1}", "port: 18302": f"port: {public + 2}"}.items():
        text = text.replace(old, new)
    document = yaml.safe_load(text)
    document["runbook"] = f"mixed-{uuid.uuid4().hex[:6]}"
    document["sites"]["hq"]["providers"]["vcenter"].update(
        {**vcsim.site(datacenter), "credentials_file": str(secret)})
    return document, backends, vm, public


async def test_mixed_runbook_fails_over_from_vsphere_and_local_to_aws_and_local(
        client: Client, task_queue: str, state_dir: Path, tmp_path: Path, mixed) -> None:
    document, backends, vm, public = mixed
    listener = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    document["apps"]["orders"]["health"][0]["tcp"].update(host="127.0.0.1", port=listener.sockets[0].getsockname()[1])
    path = tmp_path / f"{document['runbook']}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    runbook = load(path)
    providers = Providers(state_dir, [
        LOCAL, replace(VSPHERE, factory=lambda site, _: VsphereSiteProvider(site, sessions=SessionPool())),
        replace(AWS, factory=lambda ref, _: backends.provider(ref, poll=0.05))])
    owner = None
    async with serving(client, task_queue, registry.build(state_dir, providers=providers)):
        try:
            owner = await start_protect(client, runbook, task_queue)
            assert vm.runtime.powerState == "poweredOn", "brought up at hq by its vCenter"
            assert get_json(public + 2, "/health")["status"] == "ok"

            failover = await result_answering(client, await request(client, runbook, task_queue, "failover",
                                                                    yes=True, force=True))
            assert failover.state == "failed_over", failover.error
            status = await owner_status(client, runbook)
            assert {a.serving for a in status.truth.apps.values()} == {"dr"}
        finally:
            await stop_workflows(owner)
    listener.close()

    assert vm.runtime.powerState == "poweredOff", "the vCenter stopped the source VM"
    by = {a.app: {t.provider for t in a.targets} for a in failover.apps}
    assert by == {"orders": {"cloud (aws)"}, "ledger": {"services (local)"}, "api": {"services (local)"}}
    stops = {s.name: s.detail for s in failover.steps if s.name.startswith("stop ")}
    assert "orders: orders-db stopped by vcenter (vsphere)" in stops["stop orders, ledger on hq (group data)"]
    assert "ledger: ledger1 stopped by services (local)" in stops["stop orders, ledger on hq (group data)"]

    reservations = moto(backends.url, "ec2", DR).describe_instances()["Reservations"]
    recovered = [i for r in reservations for i in r["Instances"] if {"Key": MACHINE, "Value": "orders-db"} in i["Tags"]]
    assert [i["State"]["Name"] for i in recovered] == ["running"] and recovered[0]["PrivateIpAddress"] == "10.20.1.10"
    zone = document["apps"]["orders"]["endpoint"]["zone"]
    found = moto(backends.url, "route53", DR).list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    assert {r["Name"]: [v["Value"] for v in r["ResourceRecords"]] for r in found if r["Type"] == "A"} == {
        "orders.shop.example.org.": ["10.20.1.10"]}
    assert launches(state_dir, runbook.runbook, "dr") == {"ledger1": 1, "api1": 1}
    assert get_json(public + 2, "/health")["status"] == "ok", "the API answers on its public port, from dr"
    assert backends.problems() == []
