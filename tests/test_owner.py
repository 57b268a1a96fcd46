"""The runbook's owner on the real dev server with real processes: the state machine refuses the wrong
operation, partial operations are per app, one operation at a time is the server's decision, and an abort
at any step leaves a true state that re-running the operation finishes.
"""

import asyncio
import hashlib
import itertools
import os
import socket
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.service import RPCError, RPCStatusCode

from standby import client as temporal
from standby import lifecycle
from standby.cli import main
from standby.contracts.operations import OperationResult, Progress
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
    settings_for,
    start_protect,
    stop_runbook,
)
from tests.race_requests import Ask, Requesters


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
    await stop_runbook(client, runbook.runbook)


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


# Each operation with apps it may start from, in the truth `raced` gives the owner: db failed back, api failed over,
# web protected. So every pair of operations is admissible together, and only the race decides.
ASKS = {"drill": ["web"], "failover": ["web"], "switchover": ["web"], "failback": ["api"], "return": ["db"]}
PAIRS = list(itertools.combinations(ASKS, 2))


@pytest.fixture
async def raced(client, task_queue, worker, shop_file):
    """A shop whose owner starts knowing db failed back, api failed over and web protected (set, not operated on:
    the race is the owner's decision, and each admitted operation is aborted at its approval, before any stop or
    launch); every operation waits for an approval. Its workflows end with the test."""

    def every_operation_approved(document: dict) -> None:
        document["access"] = {op: {"users": ["tester"]} for op in ASKS}
        document["hooks"] = []

    runbook = runbook_variant(shop_file, edit=every_operation_approved)
    truth = lifecycle.protected(runbook)
    moved = {"db": {"phase": "failed_back", "serving": "primary", "source": "dr", "target": "primary",
                    "replicating": False},
             "api": {"phase": "failed_over", "serving": "dr", "replicating": False}}
    apps = {app: state.model_copy(update=moved.get(app, {})) for app, state in truth.apps.items()}
    await temporal.start_owner(client, settings_for(task_queue), runbook, truth.model_copy(update={"apps": apps}))
    yield runbook
    await stop_runbook(client, runbook.runbook)


async def _latest_run(client: Client, ident: str) -> str | None:
    try:
        return (await client.get_workflow_handle(ident).describe()).run_id
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return None


async def _abort_and_wait_free(client: Client, runbook: Runbook, ident: str) -> None:
    """`standby abort` of the admitted operation, which was waiting at its approval; then the runbook is free."""
    handle = client.get_workflow_handle(ident)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as ended:
        await asyncio.wait_for(handle.result(), 60)
    assert isinstance(ended.value.cause, CancelledError), ended.value.cause

    async def free() -> bool:
        return (await owner_status(client, runbook)).truth.operation is None

    await eventually_async(free, 30, 0.02, f"the owner freeing {runbook.runbook} after {ident} was aborted")


async def test_two_operations_at_the_same_instant_one_runs_the_other_is_refused_for_every_pair(
    client, task_queue, temporal_env, raced: Runbook, shop_file: Path
) -> None:
    attempts = int(os.environ.get("STANDBY_RACE_ATTEMPTS", "20"))
    address = temporal_env.client.service_client.config.target_host
    requesters = Requesters(address, task_queue, shop_file.with_name(f"{raced.runbook}.yaml"))
    runs = {op: await _latest_run(client, temporal.workflow_id(raced.runbook, op)) for op in ASKS}
    wins: dict[str, int] = dict.fromkeys(ASKS, 0)
    skews: list[float] = []
    try:
        await requesters.ready()
        for (first, second), attempt in itertools.product(PAIRS, range(attempts)):
            # Each process asks for each operation of the pair in turn, so neither has the first word every time.
            ops = (first, second) if attempt % 2 == 0 else (second, first)
            answers = await requesters.race(*(Ask(op, ASKS[op]) for op in ops))
            started = [a for a in answers if a.started]
            refused = [a for a in answers if a.refused]
            where = f"{first} and {second}, attempt {attempt}: {answers}"
            assert len(started) == 1 and len(refused) == 1, where
            winner, loser = started[0], refused[0]
            ident = temporal.workflow_id(raced.runbook, winner.operation)
            assert winner.started == ident, where
            assert loser.refused is not None and loser.refused.startswith(
                f"{loser.operation} of {raced.runbook} refused: {winner.operation} ({ident}) is running"), where
            running = (await owner_status(client, raced)).truth.operation
            assert running is not None and running.workflow_id == ident, where
            # The winner is a new run; the loser's workflow was never started.
            assert await _latest_run(client, ident) != runs[winner.operation], where
            assert await _latest_run(client, temporal.workflow_id(raced.runbook, loser.operation)) == runs[
                loser.operation], where
            runs[winner.operation] = await _latest_run(client, ident)
            wins[winner.operation] += 1
            skews.append(abs(answers[0].sent - answers[1].sent))
            await _abort_and_wait_free(client, raced, ident)
    finally:
        requesters.close()
    assert sum(wins.values()) == len(PAIRS) * attempts
    print(f"races won: {wins}; requests left their barrier {statistics.median(skews) * 1e6:.0f} us apart (median), "
          f"{max(skews) * 1e3:.1f} ms at most")
    # Aborted at their approval, the operations changed no app's place. A failback's first step sets api's
    # replication to run back (dr -> primary): aborted after it, api is reverse protected, before it failed over.
    places = {app: (s.phase, s.serving) for app, s in (await owner_status(client, raced)).truth.apps.items()}
    assert places.pop("api") in (("failed_over", "dr"), ("reverse_protected", "dr"))
    assert places == {"db": ("failed_back", "primary"), "web": ("protected", "primary")}


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


# A db that ignores SIGTERM, as a stuck process would: its stop lasts its stop_timeout, until SIGKILL.
STUCK_DB = ("import runpy, signal\n"
            "real = signal.signal\n"
            "signal.signal = lambda s, h: real(s, signal.SIG_IGN if s == signal.SIGTERM else h)\n"
            "runpy.run_module('sampleapp.db', run_name='__main__')\n")


def _closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


async def test_an_abort_in_the_middle_of_the_stop_records_the_waves_it_stopped_down(
    client, task_queue, worker, shop_file
) -> None:
    """The source's three waves run in one activity: web, then api, then db, which hangs on SIGTERM. Aborted while
    db stops, the activity answers with what it stopped, so the owner records web and api down, and the failover's
    timeline has both waves done and db's cancelled."""

    def stuck_db(document: dict) -> None:
        document["hooks"] = []
        document["protection"]["stop_deadline"] = "1m"
        db = document["apps"]["db"]
        db["start"] = ["{{ python }}", "-c", STUCK_DB, *db["start"][3:]]
        db["stop_timeout"] = "40s"

    runbook = runbook_variant(shop_file, edit=stuck_db)
    base = runbook.sites["primary"].port_base  # type: ignore[union-attr]  # a local site
    await start_protect(client, runbook, task_queue)
    try:
        handle = await request(client, runbook, task_queue, "failover", yes=True, force=True)
        # web1 and app1 listen at the primary's port_base + 2 and + 1 until their waves stopped them.
        await eventually_async(lambda: _closed(base + 2) and _closed(base + 1), 60, 0.05, "web and api stopped")
        assert not _closed(base), "db still runs: its wave is in flight"
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 60)
        truth = (await owner_status(client, runbook)).truth
        for app in ("web", "api"):
            assert (truth.apps[app].phase, truth.apps[app].serving) == ("interrupted", None), app
        steps = {step.name: step for step in (await handle.query("progress", result_type=Progress)).steps}
        assert steps["stop web on primary (group services)"].status == "done"
        assert steps["stop api on primary (group services)"].status == "done"
        assert steps["stop db on primary (group data)"].status == "cancelled"
    finally:
        await stop_runbook(client, runbook.runbook)
