"""What the AWS tests share: moto's server on 127.0.0.1 for EC2, Route 53, SSM, S3 and STS, reset per test, and
clients for a site whose DRS is the stubbed one of `tests/aws_drs_fake.py` (DRS has no emulator).
"""

from __future__ import annotations

import http.server
import threading
import urllib.request
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from activities.sites.aws.clients import ENDPOINT_ENV, AwsClients
from activities.sites.aws.provider import AwsSiteProvider
from standby.contracts.sites import SiteRef
from standby.runbook import AwsSite
from tests.aws_drs_fake import DrsWorld, ScriptedDrs, StrictStubber

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
REGIONS = ("eu-central-1", "eu-west-1")
AMI = "ami-12c6146b"


@pytest.fixture(scope="session")
def moto_url():
    """moto in server mode on a free port of 127.0.0.1, for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_url, monkeypatch) -> str:
    """A reset moto and a worker environment pointing at it, with test credentials only."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=10).close()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGIONS[1])
    monkeypatch.setenv(ENDPOINT_ENV, moto_url)
    return moto_url


def moto(url: str, service: str, region: str) -> Any:
    """A client of moto's server."""
    return boto3.client(service, region_name=region, endpoint_url=url, **CREDENTIALS)


def drs_client(region: str) -> Any:
    """A real botocore DRS client; the stubber answers before anything leaves the process."""
    return boto3.client("drs", region_name=region, **CREDENTIALS)


def clients(url: str, region: str, drs: Any) -> AwsClients:
    """One site's clients: moto's EC2, Route 53, SSM and STS, and the given (stubbed) DRS client."""
    return AwsClients(
        drs=drs,
        ec2=moto(url, "ec2", region),
        route53=moto(url, "route53", region),
        ssm=moto(url, "ssm", region),
        sts=moto(url, "sts", region),
    )


def site(name: str, region: str, runbook: str = "aws-shop", **extra: Any) -> SiteRef:
    return SiteRef(runbook=runbook, name=name, config=AwsSite(provider="aws", region=region, **extra))


class Backends:
    """Both regions of a test: moto for EC2/Route 53/SSM/STS/S3, a scripted DRS per region sharing one world."""

    def __init__(self, url: str):
        self.url = url
        self.stubs = {region: ScriptedDrs(drs_client(region), None, region) for region in REGIONS}
        for stub in self.stubs.values():
            stub.activate()
        self.clients = {region: clients(url, region, self.stubs[region].client) for region in REGIONS}
        self.world = DrsWorld(lambda region: self.clients[region].ec2, REGIONS)
        for stub in self.stubs.values():
            stub.world = self.world

    def for_region(self, region: str) -> AwsClients:
        return self.clients[region]

    def provider(self, ref: SiteRef, poll: float = 0.01) -> AwsSiteProvider:
        """The provider of a site over these backends; its peers are the other region's clients."""
        return AwsSiteProvider(
            ref, self.clients[ref.config.region], peers=lambda other: self.clients[other.config.region], poll=poll
        )

    def problems(self) -> list[str]:
        """Requests or answers that broke the DRS model's constraints (must stay empty)."""
        return [p for stub in self.stubs.values() for p in stub.problems]

    def template(self, region: str, name: str) -> str:
        """A launch template as DRS creates one per source server."""
        made = self.clients[region].ec2.create_launch_template(
            LaunchTemplateName=name, LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"}
        )
        return made["LaunchTemplate"]["LaunchTemplateId"]


def strict_stub(region: str = REGIONS[1]) -> StrictStubber:
    """A plain queue Stubber (with the extra checks) on a fresh DRS client, activated."""
    stub = StrictStubber(drs_client(region))
    stub.activate()
    return stub


class Healthy(http.server.BaseHTTPRequestHandler):
    """Stands in for the shop's services on the recovered instances: 200 to every GET."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def service():
    """The port of a stand-in for the shop's services on 127.0.0.1 (moto's instances run nothing)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
