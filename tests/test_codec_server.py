"""`standby codec-server` over real HTTP: the UI's preflight, and decoding a payload from a real history."""

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from google.protobuf import json_format
from temporalio import workflow
from temporalio.api.common.v1 import Payloads
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.sites.local.processes import free_port, port_open
    from standby import client as standby_client
    from standby.config import Settings
    from tests.test_codec import Echo

ROOT = Path(__file__).resolve().parent.parent
UI = "http://localhost:8233"
KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
SECRET = "codec-server-cleartext"


@pytest.fixture(scope="module")
def codec_server():
    """`standby codec-server` as an operator starts it, on a free port, for the UI origin (one per module)."""
    port = free_port()
    env = {**os.environ, "STANDBY_CODEC_KEYS": KEYS, "TEMPORAL_NAMESPACE": "default"}
    proc = subprocess.Popen([sys.executable, "-m", "standby", "codec-server", "--port", str(port), "--cors-origin", UI],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not port_open(port):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the codec server did not listen within 20s"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def post(url: str, body: bytes, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def preflight(url: str, origin: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-namespace,content-type,authorization"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


async def test_the_ui_decode_path_turns_a_stored_encrypted_input_back_into_clear(client, task_queue, codec_server):
    settings = Settings.from_env(environ={"TEMPORAL_ADDRESS": client.service_client.config.target_host,
                                          "STANDBY_CODEC_KEYS": KEYS})
    coded = await standby_client.connect(settings)
    async with Worker(coded, task_queue=task_queue, workflows=[Echo]):
        handle = await coded.start_workflow(Echo.run, SECRET, id=f"codec-{uuid.uuid4()}", task_queue=task_queue)
        await handle.result()
    started = (await client.get_workflow_handle(handle.id).fetch_history()).events[0]
    stored = started.workflow_execution_started_event_attributes.input
    assert SECRET.encode() not in stored.SerializeToString()

    # The UI's own request: the stored payloads as protobuf JSON, its namespace header, its origin.
    status, headers, body = post(f"{codec_server}/decode", json_format.MessageToJson(stored).encode(),
                                 **{"X-Namespace": "default", "Origin": UI})
    assert status == 200, body
    assert headers["Access-Control-Allow-Origin"] == UI
    decoded = json_format.Parse(body, Payloads())
    assert json.loads(decoded.payloads[0].data) == SECRET
    assert decoded.payloads[0].metadata["encoding"] == b"json/plain"

    # Encoding through the server gives what decoding through it reverses.
    status, _, encoded = post(f"{codec_server}/encode", body)
    assert status == 200 and SECRET.encode() not in json_format.Parse(encoded, Payloads()).SerializeToString()
    assert json_format.Parse(post(f"{codec_server}/decode", encoded)[2], Payloads()) == decoded


def test_the_preflight_answers_the_ui_origin_and_no_other(codec_server):
    status, headers = preflight(f"{codec_server}/decode", UI)
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == UI
    allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert {"x-namespace", "content-type", "authorization"} <= allowed
    assert "POST" in headers["Access-Control-Allow-Methods"]
    status, headers = preflight(f"{codec_server}/decode", "http://evil.example")
    assert status == 403 and "Access-Control-Allow-Origin" not in headers


def test_bad_requests_get_a_clear_400_403_or_404(codec_server):
    tampered = {"payloads": [{"metadata": {"encoding": base64.b64encode(b"binary/encrypted").decode(),
                                           "encryption-key-id": base64.b64encode(b"k1").decode()},
                              "data": base64.b64encode(os.urandom(40)).decode()}]}
    status, _, body = post(f"{codec_server}/decode", json.dumps(tampered).encode())
    assert status == 400 and b"fails authentication" in body
    status, _, body = post(f"{codec_server}/decode", b"{not json")
    assert status == 400 and b"not Payloads as protobuf JSON" in body
    status, _, body = post(f"{codec_server}/decode", b'{"payloads": []}', **{"X-Namespace": "other"})
    assert status == 403 and b"serves namespace 'default', not 'other'" in body
    status, _, _ = post(f"{codec_server}/elsewhere", b'{"payloads": []}')
    assert status == 404
    # Only the last segment counts: the protocol lets the endpoints sit under a per-namespace prefix.
    assert post(f"{codec_server}/default/decode", b'{"payloads": []}')[0] == 200


def test_without_keys_the_command_refuses_to_start():
    env = {k: v for k, v in os.environ.items() if k != "STANDBY_CODEC_KEYS"}
    done = subprocess.run([sys.executable, "-m", "standby", "codec-server", "--port", str(free_port())], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "STANDBY_CODEC_KEYS is not set" in done.stderr
