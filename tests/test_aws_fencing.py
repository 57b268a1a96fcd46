"""Fencing on AWS against moto's server: stale epochs refused, and a source whose endpoint is gone fails fast.

DRS is the scripted one of tests/aws_drs_fake.py (it has no emulator); EC2 and Route 53 are moto's.
"""

from __future__ import annotations

import time

import pytest
from moto.server import ThreadedMotoServer

from activities.sites.aws import drs, fencing
from activities.sites.aws.clients import ENDPOINT_ENV
from activities.sites.aws.provider import AwsSiteProvider
from activities.sites.base import PermanentProviderError, ProviderError
from standby.contracts.sites import AppInput, AppRef, IdentityInput, LaunchInput, MachineRef, Target
from standby.runbook import App, Endpoint, Machine
from tests.aws_support import AMI, REGIONS, Backends, moto, site

SOURCE, DR = site("source", REGIONS[0]), site("dr", REGIONS[1])
SERVER = "s-00000000000000000"
DB = MachineRef(name="db1", index=0, config=Machine(source_id=SERVER))


def app_ref(endpoint: Endpoint | None = None) -> AppRef:
    return AppRef(name="db", config=App(machines=["db1"], endpoint=endpoint), machines=[DB])


@pytest.fixture
def backends(aws) -> Backends:
    made = Backends(aws)
    yield made
    assert made.problems() == [], "requests or answers outside the DRS service model"


@pytest.fixture
def endpoint(backends) -> Endpoint:
    """A Route 53 hosted zone of moto with the app's endpoint in it."""
    route53 = moto(backends.url, "route53", REGIONS[1])
    zone = route53.create_hosted_zone(Name="shop.example.org", CallerReference="t")["HostedZone"]["Id"]
    return Endpoint(name="db.shop.example.org", zone=zone.split("/")[-1], ttl="30s")


def records(backends: Backends, zone: str) -> dict[tuple[str, str], list[str]]:
    sets = moto(backends.url, "route53", REGIONS[1]).list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {(s["Name"], s["Type"]): [r["Value"] for r in s.get("ResourceRecords", [])] for s in sets}


def move(app: AppRef, address: str, epoch: int, at=DR) -> IdentityInput:
    target = Target(key="k", machine="db1", app="db", site=at.name, mode="recovery", target_id="i-1", address=address)
    return IdentityInput(runbook="aws-shop", app=app, site=at, targets=[target], epoch=epoch)


async def test_an_identity_move_of_an_older_epoch_is_refused_and_the_record_stays(backends, endpoint):
    app = app_ref(endpoint)
    await backends.provider(DR).move_identity(move(app, "10.20.1.10", epoch=2))
    before = records(backends, endpoint.zone)
    assert before[("db.shop.example.org.", "A")] == ["10.20.1.10"]
    assert before[("_standby-epoch.db.shop.example.org.", "TXT")] == ['"epoch=2 move=1"']

    # The old source site, back after the failover fenced it, tries to take the name back.
    with pytest.raises(PermanentProviderError, match=r"stale epoch 1 < 2: db.shop.example.org in zone .* "
                                                     r"\[site=source, region=eu-central-1\]"):
        await backends.provider(SOURCE).move_identity(move(app, "10.10.1.10", epoch=1, at=SOURCE))
    assert records(backends, endpoint.zone) == before

    await backends.provider(DR).move_identity(move(app, "10.20.1.11", epoch=2))  # a retry of the same epoch
    await backends.provider(SOURCE).move_identity(move(app, "10.10.1.10", epoch=3, at=SOURCE))  # a failback
    after = records(backends, endpoint.zone)
    assert after[("db.shop.example.org.", "A")] == ["10.10.1.10"]
    assert after[("_standby-epoch.db.shop.example.org.", "TXT")] == ['"epoch=3 move=3"']


async def test_a_launch_of_an_older_epoch_than_the_apps_instances_is_refused(backends):
    backends.world.add_server(REGIONS[1], SERVER, template=backends.template(REGIONS[1], "drs-db1"))
    provider = backends.provider(DR)
    base = LaunchInput(key="standby/aws-shop/failover/run-2", site=DR, source=SOURCE, app=app_ref(), machine=DB,
                       mode="recovery", epoch=2)
    target = await provider.launch(base)
    tags = drs.tags_of(moto(backends.url, "ec2", REGIONS[1]).describe_instances(
        InstanceIds=[target.target_id])["Reservations"][0]["Instances"][0])
    assert tags[fencing.EPOCH] == "2"
    assert (await provider.launch(base)).target_id == target.target_id  # a retry of the same epoch
    with pytest.raises(PermanentProviderError, match=r"stale epoch 1 < 2: db holds epoch 2.*\[site=dr, region=eu-w"):
        await provider.launch(base.model_copy(update={"key": "standby/aws-shop/failover/run-1", "epoch": 1}))
    assert len(backends.stubs[REGIONS[1]].called("StartRecovery")) == 1, "the stale launch started nothing"
    with pytest.raises(PermanentProviderError, match="stale epoch 1 < 2"):
        await provider.start_app(AppInput(site=DR, app=app_ref(), epoch=1))


async def test_stopping_a_source_whose_endpoint_is_gone_fails_retryably_and_fast(monkeypatch):
    """The source's emulator is stopped: the stop must fail within the SDK's own timeouts, naming what it tried."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", ENDPOINT_ENV: url}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    tags = [{"ResourceType": "instance", "Tags": [{"Key": drs.RUNBOOK, "Value": "aws-shop"},
                                                  {"Key": drs.MACHINE, "Value": "db1"}]}]
    moto(url, "ec2", REGIONS[0]).run_instances(ImageId=AMI, MinCount=1, MaxCount=1, TagSpecifications=tags)
    provider = AwsSiteProvider(SOURCE)  # the worker's own clients and timeouts, at the stopped endpoint
    server.stop()
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        await provider.stop_app(AppInput(site=SOURCE, app=app_ref(), epoch=2))
    took = time.monotonic() - started
    assert not isinstance(raised.value, PermanentProviderError), "an unreachable source may come back: retryable"
    message = str(raised.value)
    assert "ec2.describe_instances failed [site=source, region=eu-central-1]" in message
    assert f"127.0.0.1:{port}" in message, message
    assert took < 15, f"the stop took {took:.1f}s to fail"
