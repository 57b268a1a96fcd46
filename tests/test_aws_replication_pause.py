"""Pausing replication on AWS keeps DRS replicating and every recovery point: Standby records the pause as a tag on
the source server, and a failover then launches from a point taken before it. DRS is scripted behind a Stubber
(no emulator exists) that validates every request against the service model; EC2 is moto's server.
"""

import pytest

from activities.sites.aws import drs
from standby.contracts.sites import DirectionInput, PointsInput, ReplicationInput
from tests.aws_support import REGIONS, Backends
from tests.test_aws_provider import DR, IDS, SOURCE, launch_input, machine

# DRS calls that would stop replication: StopReplication deletes the snapshots, DisconnectSourceServer the agent.
STOPPING = ("StopReplication", "DisconnectSourceServer", "StopFailback", "DeleteSourceServer")


@pytest.fixture
def backends(aws) -> Backends:
    made = Backends(aws)
    yield made
    assert made.problems() == [], "requests or answers outside the DRS service model"


async def test_a_pause_is_a_tag_drs_keeps_replicating_and_a_failover_launches_from_an_earlier_point(backends):
    server = backends.world.add_server(REGIONS[1], IDS[0], points=3, template=backends.template(REGIONS[1], "drs-m0"))
    provider, db, stub = backends.provider(DR), machine(0), backends.stubs[REGIONS[1]]
    paused = DirectionInput(source=SOURCE, target=DR, machines=[db], running=False)
    await provider.set_direction(paused)
    await provider.set_direction(paused)
    assert stub.called("TagResource") == [{"resourceArn": server["arn"], "tags": {drs.REPLICATION: drs.PAUSED}}]
    assert [name for name, _ in stub.calls if name in STOPPING] == []
    state = (await provider.replication(ReplicationInput(source=SOURCE, target=DR, machines=[db])))[0]
    assert (state.phase, state.points) == ("continuous", 3)
    assert state.detail == "paused by Standby (DRS keeps replicating, so its recovery points stay)"

    points = await provider.recovery_points(PointsInput(source=SOURCE, target=DR, machine=db))
    assert len(points) == 3
    target = await provider.launch(launch_input(db, key="standby/aws-shop/failover/r1", mode="recovery",
                                                point=points[0]))
    assert stub.called("StartRecovery")[0]["sourceServers"] == [{"sourceServerID": IDS[0],
                                                                 "recoverySnapshotID": points[0].id}]
    assert target.point_id == points[0].id

    await provider.set_direction(paused.model_copy(update={"running": True}))
    assert stub.called("UntagResource") == [{"resourceArn": server["arn"], "tagKeys": [drs.REPLICATION]}]
    state = (await provider.replication(ReplicationInput(source=SOURCE, target=DR, machines=[db])))[0]
    assert state.detail == ""
