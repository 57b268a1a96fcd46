"""The Failback Client runs the replication software's installer it downloaded: served by a real HTTP server on
127.0.0.1, the installer is a real script that records what it was given (its arguments, the names of the lines on
its standard input, a digest of the secret it read there, its environment's names) and fails when told to.

Around it the flow is the one of `test_aws_failback_client.py`: STS and the DRS endpoint from moto, DRS scripted
behind a Stubber (no emulator exists), the volumes as image files, the replication port a listener on 127.0.0.1.
"""

import asyncio
import hashlib
import http.server
import json
import sys
import threading
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.sites.aws.failback_client import FailbackClientActivities
from activities.sites.registry import Providers
from standby.contracts.failback import TOKEN_ENV, ConfigureInput, FailbackStep
from standby.contracts.operations import Progress
from standby.contracts.sites import MachineRef
from standby.runbook import Machine
from tests.aws_support import REGIONS, site
from tests.test_aws_failback_client import TOKEN, Setup, detected, run_skipping, skipping  # noqa: F401
from workflows.failback_client import FailbackClientWorkflow
from workflows.registry import WORKFLOWS

ACCESS_KEY, SECRET = TOKEN.split(":")
PACKAGE = "aws-replication-installer-init"
# The installer: records each run as one JSON line, fails while `fail_first` runs remain (or always), then succeeds.
INSTALLER = '''#!{python}
import hashlib, json, os, sys
from pathlib import Path
lines = sys.stdin.read().splitlines()
given = dict(line.split("=", 1) for line in lines)
secret = given.get("AWS_SECRET_ACCESS_KEY", "")
with open({record!r}, "a") as out:
    out.write(json.dumps({{"argv": sys.argv[1:], "stdin": sorted(given), "key_id": given.get("AWS_ACCESS_KEY_ID"),
                          "secret_sha256": hashlib.sha256(secret.encode()).hexdigest(), "env": sorted(os.environ),
                          "secret_in_env": any(secret and secret in v for v in os.environ.values())}}) + "\\n")
counter = Path({counter!r})
runs = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(runs + 1))
if runs < {fail_first}:
    print("Registering with the service using " + secret)
    print("ERROR: the service did not answer")
    sys.exit(3)
print("Installation finished.")
'''


class Served:
    """A folder on a real HTTP server on 127.0.0.1; `gets` counts the requests for the installer."""

    def __init__(self, folder: Path):
        self.gets = 0
        served = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self) -> None:
                served.gets += 1
                super().do_GET()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{PACKAGE}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def installer(tmp_path):
    """Write the installer script (failing `fail_first` times) and serve it; yields a function that does it."""
    servers: list[Served] = []

    def serve(fail_first: int) -> Served:
        folder = tmp_path / "www"
        folder.mkdir(exist_ok=True)
        (folder / PACKAGE).write_text(INSTALLER.format(python=sys.executable, record=str(tmp_path / "runs.jsonl"),
                                                       counter=str(tmp_path / "runs"), fail_first=fail_first))
        servers.append(Served(folder))
        return servers[-1]

    yield serve
    for server in servers:
        server.close()


def runs(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]


async def test_the_installer_runs_with_its_arguments_gets_the_token_on_stdin_and_is_retried(
        skipping, aws, tmp_path, monkeypatch, installer):  # noqa: F811
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    served = installer(fail_first=1)
    setup = Setup(aws, tmp_path, software_url=served.url)
    await setup.fail_over()
    listener = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", setup.port)
    queue = f"fbc-{uuid.uuid4()}"  # on the time-skipping server: the 10 s before the second try pass at once
    async with Worker(skipping.client, task_queue=queue, workflows=WORKFLOWS,
                      activities=setup.activities(tmp_path / "state")):
        handle = await skipping.client.start_workflow(FailbackClientWorkflow.run, setup.step, id=queue,
                                                      task_queue=queue)
        state = await asyncio.wait_for(handle.result(), 60)
        history, progress = await handle.fetch_history(), await handle.query("progress", result_type=Progress)
    listener.close()
    assert state.phase == "continuous" and served.gets == 1, "downloaded once, installed, replicating"
    devices = f"{tmp_path}/xvda,{tmp_path}/xvdb"
    first, second = runs(tmp_path)
    for run in (first, second):
        assert run["argv"] == ["--region", REGIONS[1], "--no-prompt", "--devices", devices]
        assert run["stdin"] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] and run["key_id"] == ACCESS_KEY
        assert run["secret_sha256"] == hashlib.sha256(SECRET.encode()).hexdigest(), "the token reached the installer"
        assert not run["secret_in_env"] and not {TOKEN_ENV, "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
                                                 "STANDBY_AWS_ENDPOINT_URL"} & set(run["env"])
    started = [e.activity_task_started_event_attributes for e in history.events
               if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    scheduled = {e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}
    assert [s.attempt for s in started if scheduled[s.scheduled_event_id] == "failback_install"] == [2]
    install = next(s for s in progress.steps if s.name.endswith("install the replication software"))
    assert install.detail.startswith(f"installed in {REGIONS[1]} for {tmp_path}/xvda, {tmp_path}/xvdb (attempt 2")
    assert SECRET not in json.dumps(history.to_json_dict()), "the token never enters a history"
    log = (tmp_path / "state" / "failback" / "aws-shop" / "db1" / "installer.log").read_text()
    assert "--- attempt 1" in log and "ERROR: the service did not answer" in log and "Installation finished." in log


async def test_an_installer_that_keeps_failing_stops_the_client_after_three_tries(skipping, aws, tmp_path,  # noqa: F811
                                                                                  monkeypatch, installer):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    setup = Setup(aws, tmp_path, software_url=installer(fail_first=99).url)
    await setup.fail_over()
    failure, history = await run_skipping(skipping, setup, tmp_path / "state")
    message = failure.cause.message
    assert message.startswith("the replication software of db1 did not install after 3 tries: the installer of db1 "
                              "exited 3; last lines: Registering with the service using **** | ERROR: the service "
                              "did not answer (attempt 3, log "), "the exit code and the log, the token redacted"
    assert len(runs(tmp_path)) == 3 and SECRET not in json.dumps(history.to_json_dict())
    assert setup.backends.stubs[REGIONS[1]].called("StopFailback") == [], "nothing was paired yet"


def install_input(tmp_path: Path, package: Path) -> ConfigureInput:
    """What the workflow hands the install step of db1, with its root volume mapped onto an image file."""
    machine = MachineRef(name="db1", index=0, config=Machine(source="onprem"))
    step = FailbackStep(runbook="aws-shop", machine=machine, dr=site("dr", REGIONS[1]), home=site("source", REGIONS[0]))
    return ConfigureInput(step=step, detected=detected(tmp_path, [("/dev/xvda", 4096)]),
                          volumes={"/dev/xvda": str(tmp_path / "xvda")}, package=str(package))


async def test_an_installer_exiting_0_whose_log_reports_a_failure_has_failed(tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    package = tmp_path / PACKAGE
    package.write_text(f"#!{sys.executable}\nprint('copying agent files')\nprint('Installation failed: no kernel "
                       "headers')\n")
    package.chmod(0o700)
    activities = FailbackClientActivities(Providers(tmp_path, []), tmp_path)
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(activities.install, install_input(tmp_path, package))
    assert failed.value.type == "InstallFailed" and not failed.value.non_retryable
    assert "exited 0 but its log reports 'Installation failed: no kernel headers'" in failed.value.message
    package.chmod(0o600)
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(activities.install, install_input(tmp_path, package))
    assert refused.value.non_retryable and refused.value.type == "InstallerNotRunnable"
    assert refused.value.message == f"cannot run the installer {package} of db1: Permission denied"
