"""The benchmark is honest: its critical path matches the plan, and no run can beat it; its figures parse."""

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from activities import registry
from activities.sites.local import PROVIDER as LOCAL
from activities.sites.registry import Providers
from bench.critical_path import critical_path
from bench.provider import BenchSiteProvider, Counter, Timings
from bench.runbooks import generate
from standby import client as temporal
from standby.plan import build
from tests.conftest import serving
from tests.ops_helpers import failover_protected, stop_workflows

ROOT = Path(__file__).resolve().parent.parent
TIMINGS = Timings(launch=0.4, stop=0.3, points=0.1, identity=0.0, replicate=0.2)


def test_generated_runbook_has_two_waves_per_group_and_validates():
    runbook = generate(40, 4)
    plan = build(runbook, "failover")
    assert [len(stage.waves) for stage in plan.stages()] == [2, 2, 2, 2]
    assert [len(wave.apps) for wave in plan.stages()[0].waves] == [1, 9]
    assert sum(len(w.apps) for w in plan.stop_waves()) == 40


def test_critical_path_is_stop_waves_then_drain_then_each_recovery_wave():
    runbook = generate(40, 4)
    plan = build(runbook, "failover")
    waves = sum(len(stage.waves) for stage in plan.stages())
    expected = len(plan.stop_waves()) * 0.3 + 0.2 + waves * (0.1 + 0.4)
    assert critical_path(runbook, plan, TIMINGS) == pytest.approx(expected)
    assert len(plan.stop_waves()) == waves == 8


async def test_a_real_failover_never_beats_the_critical_path(client, task_queue, state_dir):
    runbook = generate(20, 2, name="bench-small")
    counter = Counter()
    bench = replace(LOCAL, factory=lambda site, _: BenchSiteProvider(site, TIMINGS, counter))
    activities = registry.build(state_dir, Providers(state_dir, [bench]))
    async with serving(client, task_queue, activities):
        started = time.monotonic()
        try:
            result = await (await failover_protected(client, runbook, task_queue)).result()
        finally:
            await stop_workflows(client.get_workflow_handle(temporal.owner_id(runbook.runbook)))
        wall = time.monotonic() - started
    assert result.state == "failed_over"
    assert counter.calls["launch"] == 20 and counter.calls["recovery_points"] == 20
    assert wall >= critical_path(runbook, build(runbook, "failover"), TIMINGS)


FIGURES = """
import json, subprocess, sys
from bench.output import figures_out
out = figures_out()
subprocess.run([sys.executable, "-c", "print('Temporal CLI banner')"], check=True)
print("a log line")
print(json.dumps({"figure": 1}), file=out)
"""


def test_a_benchmarks_stdout_holds_its_figures_alone_what_a_server_it_starts_prints_goes_to_stderr():
    ran = subprocess.run([sys.executable, "-c", FIGURES], capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(ran.stdout) == {"figure": 1}
    assert "Temporal CLI banner" in ran.stderr and "a log line" in ran.stderr
