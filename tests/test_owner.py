"""The runbook's owner on the real dev server with real processes: the state machine refuses the wrong
operation, partial operations are per app, one operation at a time is the server's decision, and an abort
at any step leaves a true state that re-running the operation finishes.
"""

import asyncio
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from standby import client as temporal
from standby.cli import main
from standby.contracts.operations import OperationResult
from standby.contracts.protect import OwnerStatus
from standby.plan import build
from standby.runbook import Runbook
from tests.helpers import eventually_async
from tests.ops_helpers import (
    finished,
    owner_status,
    place_order,
    request,
    runbook_variant,
    serves_all,
    start_protect,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def shop(client, task_queue, worker, shop_file, state_dir):
    """A protected copy of the shop without its prompt steps, whose drills also wait for an approval; its
    workflows end with the test."""

    def drills_need_approval(document: dict) -> None:
        document.setdefault("access", {})["drill"] = {"users": ["tester"]}
        document["hooks"] = []

    runbook = runbook_variant(shop_file, edit=drills_need_approval)
    await start_protect(client, runbook, task_queue)
    yield runbook
    async for execution in client.list_workflows(f"Runbook = '{runbook.runbook}' AND ExecutionStatus = 'Running'"):
        await client.get_workflow_handle(execution.id).terminate("test finished")


def cli(task_queue: str, temporal_env, *args: str):
    """`standby ARGS` in-process, against the test's server and task queue."""
    env = {"TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host, "STANDBY_TASK_QUEUE": task_queue}
    return CliRunner().invoke(main, list(args), env=env)


def phases(status: OwnerStatus) -> dict[str, tuple[str, str | None, str]]:
    """Each app's (phase, serving site, replication direction)."""
    return {app: (s.phase, s.serving, s.direction()) for app, s in status.truth.apps.items()}


async def test_failback_and_return_right_after_protect_are_refused_and_change_nothing(
    client, task_queue, temporal_env, shop: Runbook
) -> None:
    before = phases(await owner_status(client, shop))
    for operation, fits in (("failback", "failover"), ("return", "failover")):
        with pytest.raises(temporal.Refused) as refused:
            await request(client, shop, task_queue, operation, yes=True)
        message = str(refused.value)
        assert message.startswith(f"{operation} of {shop.runbook} refused: db is protected primary -> dr")
        assert f"did you mean `standby {fits}`?" in message
    assert phases(await owner_status(client, shop)) == before
    assert set(before.values()) == {("protected", "primary", "primary -> dr")}


async def test_the_cli_refusal_exits_1_with_the_state_and_starts_nothing(
    client, task_queue, temporal_env, shop: Runbook, shop_file: Path
) -> None:
    variant = shop_file.with_name(f"{shop.runbook}.yaml")
    result = await asyncio.to_thread(cli, task_queue, temporal_env, "failback", str(variant), "--yes")
    assert result.exit_code == 1, result.output
    assert "db is protected primary -> dr, not failed over; did you mean `standby failover`?" in result.output
    assert [w async for w in client.list_workflows(f"Runbook = '{shop.runbook}' AND Operation = 'failback'")] == []


async def test_failover_only_db_moves_db_alone_then_the_rest_follows(client, task_queue, shop: Runbook) -> None:
    web = shop.apps["web"].endpoint.port  # type: ignore[union-attr]
    items = [(await place_order(web, f"before-{n}"))["item"] for n in range(3)]
    result: OperationResult = await finished(
        await request(client, shop, task_queue, "failover", only=["db"], yes=True, force=True), timeout=90
    )
    assert (result.state, [a.app for a in result.apps]) == ("failed_over", ["db"])
    status = await owner_status(client, shop)
    assert phases(status)["db"] == ("failed_over", "dr", "primary -> dr (paused)")
    assert phases(status)["api"] == ("protected", "primary", "primary -> dr")
    assert phases(status)["web"] == ("protected", "primary", "primary -> dr")

    async def others_continuous() -> bool:
        current = await owner_status(client, shop)
        machines = {m.machine: m.phase for m in current.machines}
        return machines.get("app1") == machines.get("web1") == "continuous"

    await eventually_async(others_continuous, 30, 0.5, "api and web still replicating after db failed over")
    await serves_all(web, items)

    rest = await finished(await request(client, shop, task_queue, "failover", yes=True, force=True), timeout=90)
    assert rest.state == "failed_over" and sorted(a.app for a in rest.apps) == ["api", "web"]
    assert {app: p[:2] for app, p in phases(await owner_status(client, shop)).items()} == {
        "db": ("failed_over", "dr"),
        "api": ("failed_over", "dr"),
        "web": ("failed_over", "dr"),
    }
    await serves_all(web, items)


async def _race(
    client: Client, task_queue: str, temporal_env, shop: Runbook, first: str, second: str, variant: Path
) -> list[tuple[str, int, str]]:
    """Both operations asked for at the same instant from two processes; (operation, exit code, output) each."""
    barrier = variant.with_suffix(f".{first}-{second}.go")
    barrier.unlink(missing_ok=True)
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "STANDBY_TASK_QUEUE": task_queue,
    }
    code = (
        "import os, sys, time\n"
        "from standby.cli import main\n"
        "open(sys.argv[1] + '.' + sys.argv[2], 'w').close()\n"
        "while not os.path.exists(sys.argv[1]): time.sleep(0.0005)\n"
        "sys.argv = ['standby', *sys.argv[2:]]\n"
        "main()\n"
    )
    processes = {
        op: subprocess.Popen(
            [sys.executable, "-c", code, str(barrier), op, str(variant), "--force", "--detach"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for op in (first, second)
    }
    ready = [Path(f"{barrier}.{op}") for op in (first, second)]
    await eventually_async(lambda: all(r.exists() for r in ready), 30, 0.01, "both CLIs imported and waiting")
    barrier.touch()  # both processes leave the barrier at the same instant
    outcome = []
    for op, process in processes.items():
        output, _ = await asyncio.to_thread(process.communicate, timeout=60)
        outcome.append((op, process.returncode, output))
    return outcome


@pytest.mark.parametrize(
    ("first", "second"), [("failover", "switchover"), ("drill", "failover"), ("drill", "switchover")]
)
async def test_two_operations_at_the_same_instant_one_runs_the_other_is_refused(
    client, task_queue, temporal_env, shop: Runbook, shop_file: Path, first: str, second: str
) -> None:
    variant = shop_file.with_name(f"{shop.runbook}.yaml")
    for attempt in range(int(os.environ.get("STANDBY_RACE_ATTEMPTS", "10"))):
        outcome = await _race(client, task_queue, temporal_env, shop, first, second, variant)
        started = [(op, out) for op, code, out in outcome if code == 0]
        refused = [(op, out) for op, code, out in outcome if code != 0]
        assert len(started) == 1 and len(refused) == 1, f"attempt {attempt}: {outcome}"
        runner, loser = started[0][0], refused[0]
        assert (
            f"{loser[0]} of {shop.runbook} refused: {runner} (standby/{shop.runbook}/{runner}) is running" in loser[1]
        )
        handle = client.get_workflow_handle(temporal.workflow_id(shop.runbook, runner))
        # The admitted operation waits at its approval gate: abort it, and the runbook is free again.
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 60)

        async def free() -> bool:
            return (await owner_status(client, shop)).truth.operation is None

        await eventually_async(free, 30, 0.1, "the owner frees the runbook after the abort")
        assert {p[0] for p in phases(await owner_status(client, shop)).values()} == {"protected"}


async def test_failback_after_return_and_return_while_failed_over_are_refused(
    client, task_queue, shop: Runbook, state_dir: Path
) -> None:
    await finished(await request(client, shop, task_queue, "failover", yes=True, force=True), timeout=90)
    with pytest.raises(
        temporal.Refused, match="db is failed over to dr, not failed back; did you mean `standby failback`"
    ):
        await request(client, shop, task_queue, "return", yes=True)
    await finished(await request(client, shop, task_queue, "failback", yes=True), timeout=120)
    await finished(await request(client, shop, task_queue, "return", yes=True), timeout=120)
    data = [
        p
        for p in (state_dir / "runbooks" / shop.runbook / "sites" / "primary").rglob("*")
        if p.is_file() and "points" not in p.parts
    ]
    digest = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in data}
    with pytest.raises(temporal.Refused, match="db is protected primary -> dr, not failed over"):
        await request(client, shop, task_queue, "failback", yes=True)
    assert {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in data} == digest


async def test_an_abort_at_each_step_of_a_failover_leaves_a_true_state_and_a_rerun_finishes(
    client, task_queue, shop: Runbook
) -> None:
    web = shop.apps["web"].endpoint.port  # type: ignore[union-attr]
    items = [(await place_order(web, "before-aborts"))["item"]]
    labels = [step.label() for step in build(shop, "failover", active="primary").steps]
    for label in labels[3:]:  # from the first step after the approval gate (--yes) on
        handle = await request(client, shop, task_queue, "failover", yes=True, force=True)

        async def reached(label: str = label, handle: WorkflowHandle = handle) -> bool:
            described = await handle.describe()
            memo = await described.memo_value("step", default=None) if described else None
            return memo == label

        try:
            await eventually_async(reached, 60, 0.02, f"the failover reaching {label!r}")
            await handle.cancel()
            await asyncio.wait_for(handle.result(), 60)
        except WorkflowFailureError:
            pass  # aborted, as meant
        except Exception:
            pass  # the step finished before the abort arrived: the failover may have completed
        status = await owner_status(client, shop)
        for app, state in status.truth.apps.items():
            # A true state: an app is failed over and served at dr, still protected at primary, or
            # interrupted (down, or serving where its recovery brought it).
            assert state.phase in ("failed_over", "protected", "interrupted"), (label, app, state)
        if all(s.phase == "failed_over" for s in status.truth.apps.values()):
            break
    if any(s.phase != "failed_over" for s in (await owner_status(client, shop)).truth.apps.values()):
        # Re-running the failover, as status says, finishes it for the apps it has not moved yet.
        result = await finished(await request(client, shop, task_queue, "failover", yes=True, force=True), timeout=120)
        assert result.state == "failed_over"
    assert {s.phase for s in (await owner_status(client, shop)).truth.apps.values()} == {"failed_over"}
    await serves_all(web, items)
