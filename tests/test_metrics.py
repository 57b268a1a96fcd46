"""The worker's Prometheus endpoints, scraped over HTTP during a real protection of the shop on the dev server:
Standby's gauges move with the data and the drills; the SDK's endpoint carries the operations' durations."""

import asyncio
import urllib.request
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import ActivityEnvironment

from activities import metrics, registry
from activities.sites.vsphere.activities import RemediationActivities
from activities.sites.vsphere.session import SessionPool
from standby.contracts.protect import OwnerStatus
from standby.contracts.sites import RemediationInput, SiteRef
from standby.converter import DATA_CONVERTER
from standby.runbook import VsphereSite
from tests.conftest import free_block, serving
from tests.helpers import eventually_async
from tests.ops_helpers import (
    finished,
    place_order,
    public_port,
    request,
    runbook_variant,
    settings_for,
    start_protect,
    stop_workflows,
)
from tests.vcsim_fixture import Vcsim
from worker import MetricsConfig

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
BYTES = ("standby_replication_changed_bytes", "standby_replication_whole_file_bytes", "standby_replication_sent_bytes")


def scrape(port: int) -> Samples:
    """Every sample of http://127.0.0.1:port/metrics, by name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The one sample of `name` whose labels include `labels`, or None."""
    found = [v for (n, have), v in samples.items() if n == name and set(labels.items()) <= have]
    assert len(found) <= 1, f"{len(found)} samples of {name} {labels}"
    return found[0] if found else None


async def until(port: int, check, what: str, timeout: float = 30):
    """Scrape until `check(samples)` returns something truthy; that."""
    return await eventually_async(lambda: check(scrape(port)), timeout, 0.3, what)


async def test_metrics_move_during_a_real_protection_and_drill(temporal_env, task_queue, state_dir, shop_file):
    base = free_block(2)
    config = MetricsConfig("127.0.0.1", base, base + 1)
    # A client on a runtime of its own, exporting the SDK's metrics as `python worker.py` does with these settings.
    client = await Client.connect(temporal_env.client.service_client.config.target_host, runtime=config.runtime(),
                                  data_converter=DATA_CONVERTER)
    server, _ = metrics.serve(config.address, config.port)
    runbook = runbook_variant(shop_file)
    name, db1 = runbook.runbook, {"runbook": runbook.runbook, "machine": "db1", "site": "dr", "source": "primary"}
    activities = registry.build(state_dir, client=client, settings=settings_for(task_queue))
    async with serving(client, task_queue, activities):
        watch = asyncio.create_task(metrics.OwnerWatch(client, task_queue, every=0.3).run())
        owner = client.get_workflow_handle(f"standby/{name}")
        try:
            await start_protect(client, runbook, task_queue)
            first = await until(config.port, lambda s: _above(value(s, "standby_recovery_point_age_seconds", **db1),
                                                              -1), "db1's point age")
            samples = scrape(config.port)
            assert value(samples, "standby_replication_continuous", **db1) == 1.0
            assert value(samples, "standby_replication_lag_seconds", **db1) is not None
            assert (value(samples, "standby_recovery_points", **db1) or 0) >= 1
            # No write: the newest point ages. A write: a new point, younger than the one before.
            older = await until(config.port, lambda s: _above(value(s, "standby_recovery_point_age_seconds", **db1),
                                                              first + 1), "db1's point ageing")
            moved = {name: value(scrape(config.port), name, **db1) for name in BYTES}
            # the first passes copied what the shop starts with (nothing, or little) and sent their file lists
            assert None not in moved.values() and moved["standby_replication_sent_bytes"] > 0, moved
            await place_order(public_port(runbook, "web"), "moves-the-point")
            await until(config.port, lambda s: _below(value(s, "standby_recovery_point_age_seconds", **db1), older - 1),
                        "a younger point after a write")
            # the write's bytes: every count grows, and the gauges say what `standby status` says
            await until(config.port, lambda s: all(_above(value(s, n, **db1), moved[n]) for n in BYTES),
                        "the write's bytes")
            await eventually_async(lambda: _as_status(owner, config.port, db1), 30, 0.3,
                                   "the bytes `standby status` shows")

            assert value(scrape(config.port), "standby_seconds_since_passed_drill", runbook=name) is None
            drill = await request(client, runbook, task_queue, "drill", yes=True, keep_for=timedelta(seconds=1))
            assert (await finished(drill)).state == "passed"
            since = await until(config.port, lambda s: value(s, "standby_seconds_since_passed_drill", runbook=name),
                                "seconds since the passing drill")
            assert 0 <= since < 60 and value(scrape(config.port), "standby_last_drill_passed", runbook=name) == 1.0

            sdk = await until(config.sdk_port, lambda s: value(s, "standby_operation_duration_seconds_count",
                                                               runbook=name, operation="drill", result="passed"),
                              "the drill's duration on the SDK endpoint")
            assert sdk == 1.0
            assert (value(scrape(config.sdk_port), "standby_operation_duration_seconds_sum", runbook=name) or 0) > 0
            # The SDK's own: prometheus_client's parser names a counter's sample with _total.
            completed = value(scrape(config.sdk_port), "temporal_workflow_completed_total", workflow_type="Drill")
            assert completed is not None and completed >= 1
        finally:
            watch.cancel()
            server.shutdown()
            await stop_workflows(owner)


async def _as_status(owner: WorkflowHandle, port: int, db1: dict[str, str]) -> bool:
    """Whether the byte gauges of db1 hold the totals the owner's status shows for it (a round may pass between)."""
    [machine] = [m for m in (await owner.query("status", result_type=OwnerStatus)).machines if m.machine == "db1"]
    if machine.total is None:
        return False
    shown = [float(getattr(machine.total, field)) for field in ("changed_bytes", "files_bytes", "sent_bytes")]
    samples = scrape(port)
    return [value(samples, name, **db1) for name in BYTES] == shown


def _above(found: float | None, limit: float) -> float | None:
    return found if found is not None and found > limit else None


def _below(found: float | None, limit: float) -> float | None:
    return found if found is not None and found < limit else None


@pytest.mark.usefixtures("vsphere_env")
async def test_remediation_actions_are_counted_by_result(vcsim: Vcsim) -> None:
    dc = vcsim.datacenter()
    vcsim.add_portgroup(dc, "prod")
    vcsim.create_vm(dc, "metrics-app-01", "prod", power_on=True)
    site = SiteRef(runbook="erp-metrics", name="hq", config=VsphereSite(**vcsim.site(dc)))
    labels = {"runbook": "erp-metrics", "site": "hq", "action": "reset_vm"}
    remediation, env = RemediationActivities(SessionPool()), ActivityEnvironment()

    await env.run(remediation.reset_vm, RemediationInput(site=site, vm="metrics-app-01"))
    with pytest.raises(Exception, match="not found"):
        await env.run(remediation.reset_vm, RemediationInput(site=site, vm="metrics-gone"))
    count = metrics.REGISTRY.get_sample_value
    assert count("standby_remediation_actions_total", {**labels, "result": "done"}) == 1.0
    assert count("standby_remediation_actions_total", {**labels, "result": "failed"}) == 1.0
