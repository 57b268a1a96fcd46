"""Operations on the sample shop: real Temporal dev server, real processes on 127.0.0.1, real ports.

Each test protects its own copy of the shop (a unique runbook name, so its own workflow IDs, search
attributes and state) and waits for continuous data protection before operating; whatever the test
started is terminated at its end, so nothing outlives it on the shared dev server.
"""

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, CancelledError

from activities.sites.local.endpoint import current_route
from standby import client as standby_client
from standby.config import Settings
from standby.contracts.gates import NO_DIRECTORY
from standby.contracts.local_layout import Layout
from standby.contracts.operations import Approval, OperationResult
from standby.contracts.state import OperationRequest, RunbookTruth
from standby.runbook import Runbook
from tests.helpers import eventually_async
from tests.ops_helpers import (
    answer_prompt,
    finished,
    launches,
    owner_status,
    place_order,
    port_answers,
    progress,
    public_port,
    request,
    result_answering,
    runbook_variant,
    served_items,
    serves_all,
    start_protect,
    stop_workflows,
    waiting_prompt,
)


class Shop:
    """A protected copy of the sample shop, and every workflow a test started on it."""

    def __init__(self, client: Client, task_queue: str, state_dir: Path, runbook: Runbook):
        self.client, self.task_queue, self.state_dir, self.runbook = client, task_queue, state_dir, runbook
        self.name, self.web = runbook.runbook, public_port(runbook, "web")
        self.started: list[WorkflowHandle] = []

    async def protect(self) -> None:
        """Start protection and wait for continuous data protection."""
        self.started.append(await start_protect(self.client, self.runbook, self.task_queue))

    async def start(self, workflow: str, **options) -> WorkflowHandle:
        """Ask the runbook's owner for an operation (`Failover` or `failover`), as the CLI does."""
        operation = {"ReturnToNormal": "return"}.get(workflow, workflow.lower())
        handle = await request(self.client, self.runbook, self.task_queue, operation, **options)
        self.started.append(handle)
        return handle

    def ports(self, site: str) -> dict[str, int]:
        """Each machine's port at a site (port_base + its place in the runbook)."""
        base = self.runbook.sites[site].port_base
        return {machine: base + index for index, machine in enumerate(self.runbook.machines)}

    def launches(self, prefix: str = "") -> dict[str, int]:
        """Processes launched at dr per machine, for operation keys under `standby/<runbook>/<prefix>`."""
        return launches(self.state_dir, self.name, "dr", f"standby/{self.name}/{prefix}")

    def route(self, app: str) -> list[int]:
        """Where an app's public endpoint sends connections: the newest of its sites' routes."""
        layout = Layout(self.state_dir, self.name)
        found = current_route([layout.route(site, app) for site in self.runbook.sites])
        assert found is not None, f"no route of {app} at any site"
        return list(found[1].backends)


@pytest.fixture
async def protected_shop(client, task_queue, worker, shop_file, state_dir):
    """`await protected_shop(hooks)`: a protected shop variant with extra hooks; its workflows end with the test."""
    shops: list[Shop] = []

    async def protect(hooks: list[dict] | None = None) -> Shop:
        shop = Shop(client, task_queue, state_dir, runbook_variant(shop_file, hooks=hooks))
        shops.append(shop)
        await shop.protect()
        return shop

    yield protect
    await stop_workflows(*(handle for shop in shops for handle in shop.started))


def innermost(error: BaseException) -> BaseException:
    """The root cause of a workflow, child-workflow, update or activity failure."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def chain(error: BaseException | None) -> list[BaseException]:
    """An error and its causes, outermost first."""
    found = []
    while error is not None:
        found.append(error)
        error = error.__cause__
    return found


def reason(error: BaseException) -> str:
    """The root cause's message, without the exception type the SDK puts in front of it."""
    cause = innermost(error)
    return cause.message if isinstance(cause, ApplicationError) else str(cause)


async def keep_writing(port: int, acknowledged: list[str], stop: asyncio.Event) -> None:
    """Place orders until told to stop, remembering every one the shop acknowledged (201)."""
    n = 0
    while not stop.is_set():
        n += 1
        try:
            acknowledged.append((await place_order(port, f"during-switchover-{n}"))["item"])
        except (AssertionError, OSError):
            pass  # refused or unreachable while the roles swap: not acknowledged, so not owed
        await asyncio.sleep(0.02)


async def test_lifecycle_keeps_every_acknowledged_order(protected_shop):
    """drill -> failover -> failback -> return -> switchover; orders written before each are served after it."""
    shop = await protected_shop()
    dr, primary = shop.ports("dr"), shop.ports("primary")
    items = [(await place_order(shop.web, f"before-drill-{n}"))["item"] for n in range(3)]
    drill = await shop.start("Drill", yes=True, keep_for=timedelta(seconds=1))
    assert (await finished(drill)).state == "passed"
    assert shop.launches("drill/") == {"db1": 1, "app1": 1, "web1": 1}
    test_base = shop.runbook.sites["dr"].test_ports_from()
    assert [port for port in range(test_base, test_base + 3) if port_answers(port)] == []

    items.append((await place_order(shop.web, "before-failover"))["item"])
    result = await result_answering(shop.client, await shop.start("Failover", yes=True))
    assert (result.state, result.from_site, result.to_site) == ("failed_over", "primary", "dr")
    assert {a.app: [t.port for t in a.targets] for a in result.apps} == {
        "db": [dr["db1"]], "api": [dr["app1"]], "web": [dr["web1"]]}
    assert shop.route("web") == [dr["web1"]]
    assert not port_answers(primary["db1"])
    await serves_all(shop.web, items)

    items.append((await place_order(shop.web, "written-at-dr"))["item"])
    assert (await finished(await shop.start("Failback", yes=True))).state == "failed_back"
    assert shop.route("db") == [primary["db1"]]
    await serves_all(shop.web, items)

    assert (await finished(await shop.start("ReturnToNormal", yes=True))).state == "normal"

    items.append((await place_order(shop.web, "right-before-switchover"))["item"])
    stop, during = asyncio.Event(), []
    writer = asyncio.create_task(keep_writing(shop.web, during, stop))
    try:
        assert (await finished(await shop.start("Switchover", yes=True))).state == "switched_over"
    finally:
        stop.set()
        await writer
    assert shop.route("db") == [dr["db1"]]
    assert during, "no order was acknowledged while the switchover started"
    served = await serves_all(shop.web, items + during)
    assert len(served) == len(set(served)), "an order was applied twice"


async def test_failover_waits_for_approval_then_at_its_prompt(protected_shop):
    """Without `yes` a failover waits for an approval, then at its prompt; nothing moves before `continue`."""
    shop = await protected_shop()
    await place_order(shop.web, "kept")
    handle = await shop.start("Failover", force=True)
    waiting = await eventually_async(lambda: _awaiting_approval(handle), 30, what="the approval gate")
    assert "cn=dr-operators" in waiting.approval_by

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("continue", "tester", result_type=str)
    assert reason(refused.value) == f"failover of {shop.name} is not waiting at a prompt"
    with pytest.raises(WorkflowUpdateFailedError) as anonymous:
        await handle.execute_update("approve", Approval(by=""), result_type=str)
    assert reason(anonymous.value) == "an approval names who approves"

    answer = await handle.execute_update("approve", Approval(by="alice", comment="CHG-42"), result_type=str)
    # The shop names no directory: the name is taken as given, and recorded so.
    assert answer == f"approved by alice ({NO_DIRECTORY})"
    prompted = await waiting_prompt(shop.client, handle, "Storage team")
    assert prompted.id == handle.id
    with pytest.raises(WorkflowUpdateFailedError) as again:
        await handle.execute_update("approve", Approval(by="bob"), result_type=str)
    assert reason(again.value) == f"failover of {shop.name} is not waiting for an approval"

    # Parked at the prompt (a second is the one wait no condition can replace): the source still serves,
    # nothing was launched at dr.
    await asyncio.sleep(1)
    assert (await progress(handle)).prompt is not None
    assert "kept" in await served_items(shop.web)
    assert shop.launches() == {}

    assert await answer_prompt(shop.client, handle, "Storage team", by="carol") == (
        "continued: Storage team: confirm the array is unlocked")
    result = await finished(handle)
    assert result.state == "failed_over"
    assert [(a.by, a.comment) for a in result.approvals] == [("alice", "CHG-42")]
    steps = {s.name: s for s in result.steps}
    assert steps["approval by a member of cn=dr-operators,ou=groups,dc=example,dc=org"].detail == (
        f"approved by alice ({NO_DIRECTORY}): CHG-42")
    assert steps['prompt (before): "Storage team: confirm the array is unlocked"'].detail == (
        f"continued by carol ({NO_DIRECTORY})")
    # The drain's activity returns only the machines it left behind: here none.
    assert steps["drain replication primary -> dr (if the source answered)"].detail == "every machine continuous"
    assert [(g.gate, g.by, g.allowed, g.verified) for g in result.gates] == [
        ("request", "", True, False), ("force", "", True, False), ("approve", "alice", True, False),
        ("continue", "carol", True, False)]
    await serves_all(shop.web, ["kept"])


async def _awaiting_approval(handle):
    current = await progress(handle)
    return current if current.awaiting_approval else None


async def test_failover_before_any_drill_is_refused_and_force_fails_over_only_db(protected_shop):
    """tested_within 7d and no drill: refused, naming the missing drill; forced with only=[db], db moves alone."""
    shop = await protected_shop()
    dr, primary = shop.ports("dr"), shop.ports("primary")
    await place_order(shop.web, "before")
    with pytest.raises(WorkflowFailureError) as failure:
        await finished(await shop.start("Failover", yes=True))
    cause = innermost(failure.value)
    assert isinstance(cause, ApplicationError) and cause.type == "PreconditionFailed"
    assert reason(failure.value) == (f"failover of {shop.name} refused: no passing drill within 7d (never drilled); "
                                     "run `standby drill` or use --force")
    assert port_answers(primary["db1"]) and shop.launches() == {}

    result = await result_answering(shop.client, await shop.start("Failover", yes=True, force=True, only=["db"]))
    assert result.state == "failed_over"
    assert [a.app for a in result.apps] == ["db"]
    # Forced preconditions are skipped on the record, not left out.
    checks = [s for s in result.steps if s.name.startswith("precondition")]
    assert checks and all((s.status, s.detail) == ("skipped", f"skipped: --force by someone ({NO_DIRECTORY})")
                          for s in checks)
    assert shop.launches() == {"db1": 1}
    assert (shop.route("db"), shop.route("web")) == ([dr["db1"]], [primary["web1"]])
    assert not port_answers(primary["db1"])
    assert port_answers(primary["app1"]) and port_answers(primary["web1"])
    await place_order(shop.web, "after")
    await serves_all(shop.web, ["before", "after"])


async def test_failing_abort_hook_stops_later_groups_and_names_the_hook(protected_shop):
    """A before_group:services hook exiting 3 with on_failure abort: db recovered, services never launched."""
    failing = ["{{ python }}", "-c", "import sys; sys.exit(3)"]
    shop = await protected_shop([{"at": "before_group:services", "run": failing, "on_failure": "abort",
                                  "operations": ["failover"]}])
    handle = await shop.start("Failover", yes=True, force=True)
    with pytest.raises(WorkflowFailureError) as failure:
        await result_answering(shop.client, handle)
    # The workflow's own error, under the child's failure, names the hook and why it failed.
    errors = [e for e in chain(failure.value) if isinstance(e, ApplicationError)]
    assert errors[0].type == "HookFailed"
    assert errors[0].message.startswith("hook before_group:services failed: hook before_group:services: ")
    assert errors[0].message.endswith("exited with code 3")
    assert (await progress(handle)).groups == {"data": "recovered", "services": "failed"}
    assert shop.launches() == {"db1": 1}


async def test_second_failover_of_a_runbook_is_refused_while_one_runs(protected_shop, state_dir):
    """The runbook's owner refuses a second failover and a drill while a failover runs, naming it."""
    shop = await protected_shop()
    settings = Settings(state_dir=state_dir, temporal_address=shop.client.service_client.config.target_host,
                        namespace=shop.client.namespace, task_queue=shop.task_queue, ui_url="http://localhost:8233")

    def asking(operation: str) -> OperationRequest:
        return OperationRequest(operation=operation, runbook=shop.runbook, yes=True, force=True, requested_by="tester")

    started = await standby_client.start(shop.client, settings, asking("failover"))
    first = shop.client.get_workflow_handle(started.workflow_id, result_type=OperationResult)
    shop.started.append(first)
    await waiting_prompt(shop.client, first, "Storage team")
    ident = f"standby/{shop.name}/failover"
    assert started.workflow_id == ident
    with pytest.raises(standby_client.Refused) as second:
        await standby_client.start(shop.client, settings, asking("failover"))
    assert str(second.value).startswith(f"failover of {shop.name} refused: failover ({ident}) is running")
    with pytest.raises(standby_client.Refused) as drill:
        await standby_client.start(shop.client, settings, asking("drill"))
    assert str(drill.value).startswith(f"drill of {shop.name} refused: failover ({ident}) is running")

    assert (await result_answering(shop.client, first)).state == "failed_over"
    assert shop.launches("failover/") == {"db1": 1, "app1": 1, "web1": 1}


async def test_cancelled_drill_removes_every_target(protected_shop, state_dir):
    """A drill cancelled while held at a prompt in its second group: its targets are gone, the drill is cancelled."""
    shop = await protected_shop([{"at": "before_group:services", "prompt": "hold the drill", "operations": ["drill"]}])
    test_base = shop.runbook.sites["dr"].test_ports_from()
    test_ports = [test_base + index for index in range(len(shop.runbook.machines))]
    dr_site = state_dir / "runbooks" / shop.name / "sites" / "dr"
    handle = await shop.start("Drill", yes=True)
    held = await waiting_prompt(shop.client, handle, "hold the drill")
    # The small group runs inline: the operation itself waits at the prompt, and `standby continue` finds it there.
    assert held.id == handle.id
    assert port_answers(test_ports[0])
    assert len(list((dr_site / "targets").glob("*/*.json"))) == 1

    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await finished(handle)
    assert isinstance(failure.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert [port for port in test_ports if port_answers(port)] == []
    assert list((dr_site / "targets").glob("*/*.json")) == []
    assert list((dr_site / "tests").glob("*/*")) == []
    steps = {s.name: s for s in (await progress(handle)).steps}
    assert steps["clean up drill targets on dr"].detail == "1 removed"
    # An aborted drill is not a failed drill: the runbook keeps no drill result from it.
    truth = await eventually_async(lambda: _idle_truth(shop), 10, what="the owner free of the drill")
    assert truth.last_drill is None
    # `<time> drill requested by ...: cancelled`: who asked, and how it ended.
    assert " drill requested by " in truth.history[-1] and truth.history[-1].endswith(": cancelled")
    assert shop.launches() == {"db1": 1}


async def _idle_truth(shop: Shop) -> RunbookTruth | None:
    truth = (await owner_status(shop.client, shop.runbook)).truth
    return truth if truth.operation is None else None
