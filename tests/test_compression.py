"""Large payloads are compressed (standby.compression): the server accepts an input over its 2 MiB limit, small
payloads stay as they are, and the codec server and the secret scan both see inside a compressed one."""

import json
import uuid

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.worker import Worker

from standby import client as standby_client
from standby.codec import EncryptionCodec, Keyring
from standby.compression import ENCODING, THRESHOLD, CompressionCodec
from standby.config import Settings
from tests.history_scan import exposures
from tests.test_codec import Echo
from tests.test_codec_server import KEYS, UI, codec_server, post  # noqa: F401 (codec_server: a fixture)

# Three megabytes of what a 10,000-machine runbook looks like: names and settings repeated with small changes.
LARGE = [{"name": f"m{i:05d}", "app": f"a{i // 2:05d}", "source_id": f"s-{i:017x}", "blueprint": "m5.large"}
         for i in range(30_000)]


def json_payload(value: object) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


async def test_small_payloads_pass_as_they_are_and_large_ones_come_back_whole():
    codec = CompressionCodec()
    small, large = json_payload({"app": "db"}), json_payload(LARGE)
    assert large.ByteSize() > 2 * 1024 * 1024 > THRESHOLD > small.ByteSize()
    stored = await codec.encode([small, large])
    assert stored[0] == small
    assert stored[1].metadata["encoding"] == ENCODING and stored[1].ByteSize() < large.ByteSize() // 10
    assert await codec.decode(stored) == [small, large]


async def test_with_keys_a_large_payload_is_compressed_then_encrypted_and_opens_back():
    codec = CompressionCodec(EncryptionCodec(Keyring.parse(KEYS)))
    large = json_payload(LARGE)
    (stored,) = await codec.encode([large])
    assert stored.metadata["encoding"] != ENCODING and b"m00001" not in stored.data
    assert stored.ByteSize() < large.ByteSize() // 10, "encrypted after compression, not before"
    assert await codec.decode([stored]) == [large]


async def test_the_server_takes_an_input_over_its_limit_and_the_worker_reads_it_back(client, task_queue):
    """Without compression the dev server refuses a 3 MiB input (its blob limit is 2 MiB); with it, it runs."""
    async with Worker(client, task_queue=task_queue, workflows=[Echo]):
        handle = await client.start_workflow(Echo.run, json.dumps(LARGE), id=f"large-{uuid.uuid4()}",
                                             task_queue=task_queue)
        assert await handle.result() == json.dumps(LARGE).upper()
    history = await handle.fetch_history()
    stored = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert stored.metadata["encoding"] == ENCODING
    # The secret scan looks inside: a value in a compressed input is found.
    assert exposures(history, {"machine": "s-0000000000000752f"}) == [f"machine in {handle.id}"]


async def test_the_codec_server_opens_a_compressed_encrypted_payload_for_the_ui(client, task_queue, codec_server):  # noqa: F811
    settings = Settings.from_env(environ={"TEMPORAL_ADDRESS": client.service_client.config.target_host,
                                          "STANDBY_CODEC_KEYS": KEYS})
    coded = await standby_client.connect(settings)
    async with Worker(coded, task_queue=task_queue, workflows=[Echo]):
        handle = await coded.start_workflow(Echo.run, json.dumps(LARGE), id=f"large-{uuid.uuid4()}",
                                            task_queue=task_queue)
        await handle.result()
    started = (await client.get_workflow_handle(handle.id).fetch_history()).events[0]
    stored = started.workflow_execution_started_event_attributes.input
    status, _, body = post(f"{codec_server}/decode", json_format.MessageToJson(stored).encode(),
                           **{"X-Namespace": "default", "Origin": UI})
    assert status == 200, body
    decoded = json_format.Parse(body, Payloads()).payloads[0]
    assert decoded.metadata["encoding"] == b"json/plain" and json.loads(decoded.data) == json.dumps(LARGE)


