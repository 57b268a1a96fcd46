"""The last test of a session: no secret value the suite sets is in any workflow history on the session's server.

Every history there (operations, their children, owners, the gate tests' approvals with sealed proofs) is read
back, with its inputs, results, memos, update arguments and failures, payloads decoded, and searched in clear
for each secret the fixtures and worker environments of the suite hold: directory passwords, the search
account's, AWS keys, the vCenter password, installation tokens, hook secrets, TSIG keys. It runs last (the
conftest moves it there, and its name sorts last) so that it sees what every other test left.
"""

import asyncio
import base64
import binascii
import uuid

from temporalio.client import Client, WorkflowHistory

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
        inner = [_decoded(data)] if isinstance(data, str) and "metadata" in value else []
        return inner + [s for item in value.values() for s in texts(item)]
    if isinstance(value, list):
        return [s for item in value for s in texts(item)]
    return [value] if isinstance(value, str) else []


def _decoded(data: str) -> str:
    try:
        return base64.b64decode(data).decode(errors="replace")
    except (binascii.Error, ValueError):
        return data


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


async def test_no_history_on_the_server_holds_a_secret_the_suite_set(client):
    """Every history of the session, scanned for every secret: none is found in clear."""
    assert all(len(value) >= 8 for value in SECRETS.values()), "a short secret would match by chance"
    histories = await every_history(client)
    assert histories, "the session's server holds no history at all"
    found = [where for history in histories for where in exposures(history, SECRETS)]
    assert found == [], f"{len(found)} secrets in {len(histories)} histories: {found[:20]}"
