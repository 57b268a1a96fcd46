"""The scan of every workflow history on a session's server for the secrets the suite sets.

Every history there (operations, their children, owners, the gate tests' approvals with sealed proofs) is read
back, with its inputs, results, memos, update arguments and failures, payloads decoded, and searched in clear
for each secret the fixtures and worker environments of the suite hold: directory passwords, the search
account's, AWS keys, the vCenter password, installation tokens, hook secrets, TSIG keys. The session's server
fixture runs it when the session ends (in each pytest-xdist worker, on that worker's server), so it sees what
every test left; a secret found fails the session.
"""

import asyncio
import base64
import binascii

from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory

from standby.compression import ENCODING, decompress
from tests import named_fixture, slapd_fixture, test_aws_failback_client, test_environment, vcsim_fixture

SECRETS: dict[str, str] = {
    **{f"LDAP password of {name}": password for name, password in slapd_fixture.PASSWORDS.items()},
    "LDAP search account's password": slapd_fixture.SEARCH_PASSWORD,
    "vCenter password": vcsim_fixture.PASSWORD,
    **{f"worker's {name}": value for name, value in test_environment.CREDENTIALS.items()},
    "hook secret (from_env SHOP_TOKEN)": test_environment.HOOK_TOKEN,
    # The token is KEY_ID:SECRET; the key ID names the account's key and may be shown, the secret never.
    "installation token's secret": test_aws_failback_client.TOKEN.split(":", 1)[1],
    "TSIG secret": named_fixture.SECRET, "other TSIG secret": named_fixture.OTHER_SECRET,
}
# Histories fetched at once: the dev server answers them in milliseconds; a few in flight keep it busy, not flooded.
PARALLEL = 8


def texts(value: object) -> list[str]:
    """Every string of a history's JSON form, each payload's data decoded from base64 as well."""
    if isinstance(value, dict):
        data = value.get("data")
        inner = [_decoded(data, value["metadata"])] if isinstance(data, str) and "metadata" in value else []
        return inner + [s for item in value.values() for s in texts(item)]
    if isinstance(value, list):
        return [s for item in value for s in texts(item)]
    return [value] if isinstance(value, str) else []


def _decoded(data: str, metadata: object) -> str:
    try:
        raw = base64.b64decode(data)
    except (binascii.Error, ValueError):
        return data
    # A large payload is stored compressed (standby.compression): what it holds is searched, not its zlib bytes.
    if isinstance(metadata, dict) and metadata.get("encoding") == base64.b64encode(ENCODING).decode():
        return decompress(Payload(metadata={"encoding": ENCODING}, data=raw)).data.decode(errors="replace")
    return raw.decode(errors="replace")


def exposures(history: WorkflowHistory, secrets: dict[str, str]) -> list[str]:
    """What of `secrets` the history holds in clear: in its raw events or in any decoded payload."""
    raw = b"".join(event.SerializeToString() for event in history.events)
    decoded = "\n".join(texts(history.to_json_dict()))
    return [f"{what} in {history.workflow_id}" for what, value in secrets.items()
            if value.encode() in raw or value in decoded]


async def every_history(client: Client) -> list[WorkflowHistory]:
    """The history of every workflow run on the server, children and closed ones included."""
    runs = [(w.id, w.run_id) async for w in client.list_workflows()]
    slots = asyncio.Semaphore(PARALLEL)

    async def fetch(workflow_id: str, run_id: str) -> WorkflowHistory:
        async with slots:
            return await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()

    return list(await asyncio.gather(*(fetch(w, r) for w, r in runs)))




async def secrets_found(client: Client) -> list[str]:
    """Where any of the suite's secrets stands in clear in a history of the server `client` reaches."""
    assert all(len(value) >= 8 for value in SECRETS.values()), "a short secret would match by chance"
    return [where for history in await every_history(client) for where in exposures(history, SECRETS)]
