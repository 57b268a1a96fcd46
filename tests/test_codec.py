"""The payload codec: encryption in the stored history of the real dev server, rotation, tampering."""

import base64
import dataclasses
import os
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from standby import client as standby_client
    from standby.codec import ENCODING, KEY_ID, CodecKeyError, DecodeError, EncryptionCodec, Keyring
    from standby.config import Settings

SECRET = "hunter2-codec-cleartext"


def key_entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


@activity.defn(name="codec_test_fail")
async def fail_with(message: str) -> None:
    raise RuntimeError(message)


@workflow.defn
class Echo:
    """Test-only: returns its input; with a leading '!' fails in an activity with it as the message."""

    @workflow.run
    async def run(self, text: str) -> str:
        if text.startswith("!"):
            await workflow.execute_activity(fail_with, text, start_to_close_timeout=timedelta(seconds=10),
                                            retry_policy=RetryPolicy(maximum_attempts=1))
        return text.upper()


def settings_for(plain: Client, keys: str) -> Settings:
    return dataclasses.replace(Settings.from_env(environ={}), temporal_address=plain.service_client.config.target_host,
                               codec_keys=keys)


async def raw_history(plain: Client, workflow_id: str) -> bytes:
    history = await plain.get_workflow_handle(workflow_id).fetch_history()
    return b"".join(event.SerializeToString() for event in history.events)


async def test_input_result_memo_and_failure_are_encrypted_in_the_stored_history(client, task_queue):
    keys = key_entry("k1")
    coded = await standby_client.connect(settings_for(client, keys))
    async with Worker(coded, task_queue=task_queue, workflows=[Echo], activities=[fail_with]):
        ok = await coded.start_workflow(Echo.run, SECRET, id=f"codec-{uuid.uuid4()}", task_queue=task_queue,
                                        memo={"note": SECRET})
        assert await ok.result() == SECRET.upper()
        failing = await coded.start_workflow(Echo.run, f"!{SECRET}", id=f"codec-{uuid.uuid4()}",
                                             task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await failing.result()
    # The codec client reads everything back, the failure's message included.
    assert SECRET in str(failed.value.cause.cause)
    assert await (await ok.describe()).memo() == {"note": SECRET}
    for workflow_id in (ok.id, failing.id):
        raw = await raw_history(client, workflow_id)
        assert SECRET.encode() not in raw and SECRET.upper().encode() not in raw
    started = (await client.get_workflow_handle(ok.id).fetch_history()).events[0]
    payload = started.workflow_execution_started_event_attributes.input.payloads[0]
    assert payload.metadata["encoding"] == ENCODING and payload.metadata[KEY_ID] == b"k1"
    # The client without the codec cannot read what the codec wrote.
    with pytest.raises(Exception, match="binary/encrypted"):
        await client.get_workflow_handle(ok.id).result()


async def test_a_rotated_ring_still_reads_what_the_old_key_wrote(client, task_queue):
    old, new = key_entry("k1"), key_entry("k2")
    writer = await standby_client.connect(settings_for(client, old))
    async with Worker(writer, task_queue=task_queue, workflows=[Echo]):
        handle = await writer.start_workflow(Echo.run, SECRET, id=f"codec-{uuid.uuid4()}", task_queue=task_queue)
        await handle.result()
    rotated = await standby_client.connect(settings_for(client, f"{new},{old}"))
    assert await rotated.get_workflow_handle(handle.id).result() == SECRET.upper()
    without_old = await standby_client.connect(settings_for(client, new))
    with pytest.raises(DecodeError, match="key 'k1', which STANDBY_CODEC_KEYS does not hold"):
        await without_old.get_workflow_handle(handle.id).result()


def test_tampered_or_relabelled_payloads_do_not_decrypt_and_clear_ones_pass():
    ring = Keyring.parse(f"{key_entry('a')},{key_entry('b')}")
    codec = EncryptionCodec(ring)
    sealed = codec.encrypt(Payload(metadata={"encoding": b"json/plain"}, data=b'"secret"'))
    assert codec.decrypt(sealed).data == b'"secret"'
    flipped = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(DecodeError, match="fails authentication"):
        codec.decrypt(flipped)
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"b"}, data=sealed.data)
    with pytest.raises(DecodeError, match="fails authentication"):
        codec.decrypt(relabelled)
    clear = Payload(metadata={"encoding": b"json/plain"}, data=b"1")
    assert codec.decrypt(clear) is clear


@pytest.mark.parametrize("text, message", [
    ("k1", "entry 1 is not ID:BASE64"),
    ("k1:not base64!", "entry 1 ('k1'): the key is not base64"),
    (f"k1:{base64.b64encode(b'short').decode()}", "the key has 5 bytes, expected 32"),
    (f"{key_entry('k1')},{key_entry('k1')}", "key id 'k1' appears twice"),
    (" , ", "holds no key"),
], ids=["no-colon", "not-base64", "short-key", "id-twice", "empty"])  # fixed ids: the keys are random
def test_malformed_keys_are_refused_by_name_without_showing_a_key(text, message):
    with pytest.raises(CodecKeyError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        Keyring.parse(text)
    secret_part = text.partition(":")[2]
    assert not secret_part or secret_part not in str(error.value)
