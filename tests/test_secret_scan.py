"""The secret scan of every history (tests/history_scan.py, run as the session's server ends) can fail."""

import asyncio
import uuid

from temporalio.client import Client

from standby.converter import DATA_CONVERTER
from tests.history_scan import SECRETS, exposures, secrets_found

# The session's server has this namespace too (see conftest), kept apart so that a secret planted here on purpose
# never reaches the scan of the default namespace when the session ends.
PLANTED = "planted-secrets"


async def test_the_scan_finds_a_value_planted_in_an_input_and_a_memo(client):
    """The scan can fail: a value put into a workflow's input and memo (no worker runs it) is found in both."""
    planted = f"planted-{uuid.uuid4()}"
    handle = await client.start_workflow("Unserved", planted, id=f"scan-{uuid.uuid4()}", task_queue="unserved",
                                         memo={"note": f"memo-{planted}"})
    try:
        history = await handle.fetch_history()
        assert exposures(history, {"input": planted, "memo": f"memo-{planted}"}) == [
            f"input in {handle.id}", f"memo in {handle.id}"]
    finally:
        await handle.terminate("scan checked")


async def test_the_scan_of_a_whole_server_finds_a_real_secret_put_into_a_history(client):
    """The session-end scan, run on a namespace of its own, finds one of the suite's real secrets put into an input."""
    apart = await Client.connect(client.service_client.config.target_host, namespace=PLANTED,
                                 data_converter=DATA_CONVERTER)
    assert await secrets_found(apart) == []
    what, secret = next(iter(SECRETS.items()))
    handle = await apart.start_workflow("Unserved", secret, id=f"scan-{uuid.uuid4()}", task_queue="unserved")
    try:
        for _ in range(50):
            found = await secrets_found(apart)
            if found:
                break
            await asyncio.sleep(0.1)
        assert found == [f"{what} in {handle.id}"]
    finally:
        await handle.terminate("scan checked")
