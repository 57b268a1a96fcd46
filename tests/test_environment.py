"""Child processes start clean, hook env values come from the worker, and known secrets are redacted.

Every test puts credentials into this process's environment: the test process is the worker.
"""

import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.commands import run_step
    from activities.environment import PASSED_THROUGH, child_environment, redact, secrets_to_hide
    from activities.hooks import OUTPUT_LIMIT, run_command
    from activities.sites.local.processes import running_pid
    from activities.sites.local.provider import LocalSiteProvider
    from standby.contracts.commands import CommandInput, CommandResult, StepCommand
    from standby.contracts.local_layout import Layout
    from standby.contracts.sites import AppInput, IdentityInput, app_ref, public_ports, site_ref
    from standby.loader import load
    from standby.runbook import CommandHook, FromEnv

CREDENTIALS = {
    "AWS_SECRET_ACCESS_KEY": "aws-secret-0123456789",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE0123",
    "VSPHERE_PASSWORD": "vcenter-secret-pw",
    "STANDBY_INSTALLATION_TOKEN": "install-token-value",
}
HOOK_TOKEN = "shop-token-from-the-worker"


@pytest.fixture
def worker_credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in {**CREDENTIALS, "SHOP_TOKEN": HOOK_TOKEN}.items():
        monkeypatch.setenv(name, value)
    return CREDENTIALS


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(entry.split("=", 1) for entry in raw.decode().split("\0") if "=" in entry)


def test_a_child_environment_is_the_harmless_variables_and_the_given_ones():
    worker = {"PATH": "/usr/bin", "HOME": "/home/w", "AWS_SECRET_ACCESS_KEY": "x", "PYTHONPATH": "/src", "TZ": "UTC"}
    assert child_environment({"MODE": "fast", "TZ": "Europe/Paris"}, worker) == {
        "PATH": "/usr/bin",
        "HOME": "/home/w",
        "TZ": "Europe/Paris",
        "MODE": "fast",
    }
    assert set(PASSED_THROUGH) == {"PATH", "LANG", "LC_ALL", "HOME", "TZ", "TMPDIR"}


def test_secret_looking_worker_variables_and_known_values_are_redacted_longest_first():
    worker = {"DB_PASSWORD": "pw-1234", "API_TOKEN": "tok-5678", "MY_KEY": "k", "PATH": "/usr/bin/tok-5678x"}
    hidden = secrets_to_hide({"pw-1234-extended"}, worker)
    assert hidden == ["pw-1234-extended", "tok-5678", "pw-1234"]
    assert redact("a pw-1234-extended b pw-1234 c tok-5678 k", hidden) == "a *** b *** c *** k"


async def test_a_secret_cut_by_the_start_of_the_kept_output_is_not_left_half_visible():
    secret = "s3cr3t-value-that-is-long"
    margin = max(len(s.encode()) for s in secrets_to_hide({secret}))
    # The kept tail starts 10 characters before the secret's end: those 10 must not be shown.
    code = f"import sys; sys.stdout.write('{secret}' + 'a' * {OUTPUT_LIMIT + margin - 10})"
    result = await run_command(CommandInput(argv=[sys.executable, "-c", code]), secrets={secret})
    assert len(result.stdout.encode()) <= OUTPUT_LIMIT
    assert set(result.stdout) == {"a"}


async def test_a_command_does_not_see_the_workers_credentials(worker_credentials):
    result = await run_command(CommandInput(argv=["env"], env={"GIVEN": "yes"}))
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert not set(worker_credentials) & set(seen)
    assert seen["GIVEN"] == "yes" and "PATH" in seen


async def test_local_apps_and_endpoint_proxies_do_not_see_the_workers_credentials(
    worker_credentials, shop_file: Path, state_dir: Path
):
    runbook = load(shop_file)
    primary = LocalSiteProvider(site_ref(runbook, "primary"), state_dir)
    [target] = await primary.start_app(
        AppInput(site=site_ref(runbook, "primary"), app=app_ref(runbook, "db"), endpoints=public_ports(runbook))
    )
    await primary.move_identity(
        IdentityInput(site=site_ref(runbook, "primary"), targets=[target], runbook="shop", app=app_ref(runbook, "db"))
    )
    layout = Layout(state_dir, "shop")
    app_pid = running_pid(layout.pid("primary", "db1"))
    proxy_pid = running_pid(layout.route("primary", "db").with_suffix(".pid"))
    assert app_pid and proxy_pid
    for pid in (app_pid, proxy_pid):
        seen = environ_of(pid)
        assert not set(worker_credentials) & set(seen), f"pid {pid} sees {set(worker_credentials) & set(seen)}"
        assert not {v for v in seen.values() if v in worker_credentials.values()}
        assert "PATH" in seen


@workflow.defn
class StepWorkflow:
    """Test-only: one run_step, tried once."""

    @workflow.run
    async def run(self, step: StepCommand) -> CommandResult:
        return await workflow.execute_activity(
            "run_step",
            step,
            result_type=CommandResult,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


async def run_step_on_the_server(client: Client, task_queue: str, step: StepCommand) -> tuple[str, bytes]:
    """The workflow's id and its whole stored history, as bytes."""
    async with Worker(client, task_queue=task_queue, workflows=[StepWorkflow], activities=[run_step]):
        handle = await client.start_workflow(StepWorkflow.run, step, id=f"step-{uuid.uuid4()}", task_queue=task_queue)
        try:
            await handle.result()
        except WorkflowFailureError:
            pass
    history = await handle.fetch_history()
    return handle.id, b"".join(event.SerializeToString() for event in history.events)


async def test_a_hook_gets_from_env_values_and_neither_they_nor_credentials_reach_the_history(
    client, task_queue, worker_credentials, tmp_path: Path
):
    leak = tmp_path / "leak.txt"
    leak.write_text(f"found {CREDENTIALS['AWS_SECRET_ACCESS_KEY']} in a file\n")
    step = StepCommand(
        argv=["sh", "-c", f"env; cat {leak}"],
        label="post_launch:db",
        env={"TOKEN": FromEnv(from_env="SHOP_TOKEN"), "MODE": "{{ app }}-fast"},
        context={"app": "db"},
    )
    workflow_id, history = await run_step_on_the_server(client, task_queue, step)
    result = await client.get_workflow_handle(workflow_id).result(rpc_timeout=timedelta(seconds=10))
    lines = CommandResult(**result).stdout.splitlines() if isinstance(result, dict) else result.stdout.splitlines()
    assert "TOKEN=***" in lines and "MODE=db-fast" in lines and "found *** in a file" in lines
    for secret in [HOOK_TOKEN, *CREDENTIALS.values()]:
        assert secret.encode() not in history, f"{secret} is in the history"


async def test_a_from_env_variable_the_worker_lacks_fails_once_naming_it(client, task_queue, monkeypatch):
    monkeypatch.delenv("SHOP_TOKEN", raising=False)
    step = StepCommand(argv=["true"], label="post_launch:db", env={"TOKEN": FromEnv(from_env="SHOP_TOKEN")})
    async with Worker(client, task_queue=task_queue, workflows=[StepWorkflow], activities=[run_step]):
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(StepWorkflow.run, step, id=f"step-{uuid.uuid4()}", task_queue=task_queue)
    message = str(failed.value.cause.cause)
    assert "hook post_launch:db: env TOKEN is {from_env: SHOP_TOKEN}" in message
    assert "SHOP_TOKEN is not set in this worker's environment" in message


def test_a_hook_env_value_is_a_literal_or_from_env_and_a_bad_variable_name_is_refused():
    hook = CommandHook.model_validate(
        {"at": "before", "run": ["true"], "env": {"A": "x", "B": {"from_env": "SHOP_TOKEN"}}}
    )
    assert hook.env == {"A": "x", "B": FromEnv(from_env="SHOP_TOKEN")}
    with pytest.raises(ValueError, match="'not a name' is not a variable name"):
        CommandHook.model_validate({"at": "before", "run": ["true"], "env": {"B": {"from_env": "not a name"}}})
    with pytest.raises(ValueError, match=r"expected a string or \{from_env: VARIABLE\}"):
        CommandHook.model_validate({"at": "before", "run": ["true"], "env": {"B": 42}})
