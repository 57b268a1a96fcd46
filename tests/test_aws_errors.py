"""AWS errors are mapped once, in the adapter: throttling and 5xx retried, the rest permanent, `[site, region, server]`
in every message. DRS errors come from the scripted DRS (no emulator exists); EC2 and Route 53 errors from moto.
"""

import pytest

from activities.sites.aws.provider import AwsSiteProvider
from activities.sites.base import PermanentProviderError, ProviderError
from standby.contracts.sites import AppRef, IdentityInput, MachineRef, PointsInput
from standby.runbook import App, Endpoint, Machine
from tests.aws_drs_fake import Fault
from tests.aws_support import REGIONS, Backends, site

SOURCE, DR = site("source", REGIONS[0]), site("dr", REGIONS[1])
SERVER = "s-00000000000000000"
MACHINE = MachineRef(name="db1", index=0, config=Machine(source_id=SERVER))


@pytest.fixture
def backends(aws) -> Backends:
    made = Backends(aws)
    made.world.add_server(REGIONS[1], SERVER)
    return made


@pytest.mark.parametrize(("code", "status", "permanent"), [
    ("ThrottlingException", 429, False),
    ("InternalServerException", 500, False),
    ("ServiceUnavailable", 503, False),
    ("AccessDeniedException", 403, True),
    ("ValidationException", 400, True),
    ("ResourceNotFoundException", 404, True),
    ("UninitializedAccountException", 400, True),
])
async def test_drs_errors_map_to_retry_semantics_with_the_site_region_and_server(backends, code, status, permanent):
    backends.world.faults["DescribeRecoverySnapshots"] = [Fault(code, "told by the test", status)]
    with pytest.raises(ProviderError) as raised:
        await backends.provider(DR).recovery_points(PointsInput(source=SOURCE, target=DR, machine=MACHINE))
    assert isinstance(raised.value, PermanentProviderError) is permanent
    assert str(raised.value) == (f"drs.describe_recovery_snapshots failed [site=dr, region=eu-west-1, "
                                 f"server={SERVER}]: {code}: told by the test")


async def test_a_route53_zone_that_does_not_exist_is_permanent(backends):
    endpoint = Endpoint(name="db.shop.example.org", zone="Z0000000000000000000", ttl="30s")
    app = AppRef(name="db", config=App(machines=["db1"], endpoint=endpoint), machines=[MACHINE])
    from standby.contracts.sites import Target

    target = Target(key="k", machine="db1", app="db", site="dr", mode="recovery", target_id="i-1", address="10.0.0.1")
    # The move reads the app's epoch record first: that call meets the missing zone.
    with pytest.raises(PermanentProviderError, match=r"route53.list_resource_record_sets failed \[site=dr, "
                                                     r"region=eu-west-1\]: NoSuchHostedZone"):
        await backends.provider(DR).move_identity(IdentityInput(runbook="aws-shop", app=app, site=DR, targets=[target]))


async def test_missing_credentials_are_permanent_and_say_where_credentials_come_from(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "STANDBY_AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    provider = AwsSiteProvider(DR)
    with pytest.raises(PermanentProviderError, match=r"drs.describe_source_servers failed \[site=dr, region=eu-west-1, "
                                                     r"server=s-0+\]: Unable to locate credentials \(credentials come"):
        await provider.recovery_points(PointsInput(source=SOURCE, target=DR, machine=MACHINE))


async def test_an_unknown_profile_is_permanent(monkeypatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(PermanentProviderError, match=r"boto3.Session failed \[site=dr, region=eu-west-1\]: "
                                                     r"The config profile \(nobody\) could not be found"):
        AwsSiteProvider(site("dr", REGIONS[1], profile="nobody"))
