"""A whole `standby failover` of aws-shop while its source region does not answer: its moto server is stopped.

The source region's EC2 (app1, app2 and web1 run there; db1 runs in the data centre and is looked up there too)
lives in a moto server of its own, stopped before the failover; the DR region's EC2 and Route 53 stay on the
session's moto, DRS is the scripted one of tests/aws_drs_fake.py (it has no emulator). Past the runbook's short
stop_deadline every source machine is fenced, the failover completes at dr, and its result and its report say
what was fenced and why.
"""

import asyncio
from dataclasses import replace

import yaml
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from activities import registry
from activities.sites.aws import PROVIDER as AWS
from activities.sites.registry import Providers
from standby import client as temporal
from standby import lifecycle
from standby.cli import main
from standby.contracts.operations import OperationResult
from standby.loader import load
from tests.aws_support import REGIONS, Backends, clients
from tests.conftest import serving
from tests.ops_helpers import settings_for, stop_workflows
from tests.test_aws_failback_client import free_port
from tests.test_aws_shop import prepare as prepare_shop
from tests.test_aws_shop import records, standby, until_prompt_then_continue

SOURCE, DR = REGIONS


async def test_aws_failover_completes_with_the_source_region_unreachable_and_says_what_it_fenced(
        client, task_queue, aws, tmp_path, state_dir, service):
    source = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    source.start()
    host, port = source.get_host_and_port()
    backends = Backends(aws)
    backends.world.sync = ["CONTINUOUS"]
    path, name = prepare_shop(backends, tmp_path, service, free_port(), source_url=f"http://{host}:{port}")
    backends.clients[SOURCE] = clients(f"http://{host}:{port}", SOURCE, backends.stubs[SOURCE].client)
    document = yaml.safe_load(path.read_text())
    document["protection"]["stop_deadline"] = "2s"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    zone = document["apps"]["db"]["endpoint"]["zone"]
    activities = registry.build(state_dir, Providers(state_dir, [
        replace(AWS, factory=lambda ref, _: backends.provider(ref, poll=0.05))]))
    runbook = load(path)
    owner = await temporal.start_owner(client, settings_for(task_queue), runbook, lifecycle.protected(runbook))
    source.stop()  # the source region is gone: its EC2 endpoint refuses every connection
    try:
        async with serving(client, task_queue, activities):
            ident = f"standby/{name}/failover"
            await standby(client, task_queue, "failover", str(path), "--yes", "--force", "--detach")
            await until_prompt_then_continue(client, task_queue, ident)
            result = await client.get_workflow_handle(ident, result_type=OperationResult).result()
            assert result.state == "failed_over", result.error
            stops = {s.name: s.detail for s in result.steps if s.name.startswith("stop ")}
            # web stops first (reverse group order): it waits out the deadline; the source then counts as gone.
            # Whether the client's own retries of the refused connection end inside the deadline is a matter of
            # timing: the reason is then the last error, or that the site did not answer in time.
            web = stops.pop(next(iter(stops)))
            assert web.startswith("web: web1 fenced (not stopped within the stop deadline of 2s: "), web
            assert web.endswith(("the site did not answer in time)", f'Could not connect to the endpoint URL: '
                                 f'"http://{host}:{port}/")')), web
            assert list(stops.values()) == [
                "api: app1 fenced (the site did not answer: stop web on source (group services) could not reach it), "
                "app2 fenced (the site did not answer: stop web on source (group services) could not reach it)",
                "db: db1 fenced (the site did not answer: stop web on source (group services) could not reach it)"]
            recorded = next(s for s in result.steps if s.name.startswith("record state"))
            assert all(f"{m}: fenced" in recorded.detail for m in ("db/db1", "api/app1", "api/app2", "web/web1"))
            assert records(aws, zone) == {"db.shop.example.org": ["10.20.1.10"],
                                          "www.shop.example.org": ["10.20.3.10"],
                                          "api.shop.example.org": ["10.20.2.10", "10.20.2.11"]}
            env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host, "STANDBY_TASK_QUEUE": task_queue}
            shown = await asyncio.to_thread(CliRunner().invoke, main, ["report", ident, "--format", "md"], env=env)
            assert shown.exit_code == 0, shown.output
            assert "fenced (" in shown.output and "web1" in shown.output and "db1" in shown.output, shown.output
    finally:
        await stop_workflows(owner)
    assert backends.problems() == []
