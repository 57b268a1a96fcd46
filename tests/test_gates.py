"""Every gate of an operation decided by the worker, against the real slapd, on the real dev server and the shop.

The shop's runbook names the test slapd (tests/gates_helpers.ACCESS says who may act): requests, approvals,
prompts, --force, --yes and aborts pass only with a sealed proof that the worker opens, binds to the directory
and checks; everything anyone tried is on the record, refusals included.
"""

import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.worker import Worker

# Everything passes through: the sandbox imports this module again for the test-only workflow below.
with workflow.unsafe.imports_passed_through():
    from standby import client as temporal
    from standby import report, views
    from standby.access import Binding
    from standby.contracts.gates import GateRecord, OperatorAction
    from standby.contracts.operations import Approval, OperationResult
    from standby.contracts.state import OperationRequest
    from standby.proof import PRIVATE_KEY_ENV, generate_keys
    from standby.runbook import AccessRule, Gate
    from tests.gates_helpers import (
        act,
        cli,
        directory_shop,
        memo_gates,
        operator,
        password_file,
        request,
        update_failures,
        update_inputs,
        waiting,
    )
    from tests.ops_helpers import finished, owner_status, settings_for, start_protect, stop_workflows
    from tests.slapd_fixture import Slapd
    from workflows import gates

HOST = socket.gethostname()
OPERATORS = "dr-operators"
PROOFS_ONLY = "the runbook names a directory, so"


@pytest.fixture
def public_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A worker key pair: the worker's private key in the environment its activities read, the public key's path."""
    generate_keys(tmp_path / "worker.key", tmp_path / "worker.pub")
    monkeypatch.setenv(PRIVATE_KEY_ENV, str(tmp_path / "worker.key"))
    return tmp_path / "worker.pub"


@pytest.fixture
async def shop(client, task_queue, worker, shop_file, slapd: Slapd, public_key):
    """A protected shop whose runbook names the slapd; every workflow a test starts on it ends with the test."""
    runbook = directory_shop(shop_file, slapd)
    owner = await start_protect(client, runbook, task_queue)
    started = [owner]
    yield runbook, started
    await stop_workflows(*started)


def refused_with(error: pytest.ExceptionInfo, text: str) -> str:
    """The refusal's reason, which must contain `text`."""
    message = views.reason(error.value)
    assert text in message, message
    return message


async def test_a_member_approves_and_the_failover_runs_while_others_are_refused_on_the_record(
        client, task_queue, shop, public_key):
    """A non-member, a wrong password and the requester (four_eyes) are refused with the reason, in the history;
    bob, a nested member, approves; dave, two levels down, answers the prompt; the failover completes."""
    runbook, started = shop
    alice = operator(public_key, "alice")
    handle = await request(client, runbook, task_queue, "failover", alice, force=True)
    started.append(handle)
    await waiting(handle, "waiting for an approval", lambda p: p.awaiting_approval)

    attempts = [(operator(public_key, "carol"), f"carol is not allowed by access.failover.approve (group {OPERATORS})"),
                (operator(public_key, "bob", "guessed"),
                 "bob: the directory refused the credentials (wrong password or unknown user)"),
                (alice, "four_eyes: alice requested failover and may not approve it too")]
    for who, reason in attempts:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await act(client, handle.id, "approve", who)
        assert refused_with(refused, reason) == f"approve refused to {who.user} from {HOST}: {reason}"

    approved = await act(client, handle.id, "approve", operator(public_key, "bob"), comment="CHG-7")
    assert approved == f"approved by bob (verified by the directory, from {HOST})"
    await waiting(handle, "at its prompt", lambda p: p.prompt is not None)
    assert (await act(client, handle.id, "continue", operator(public_key, "dave"))).startswith("continued: Storage")
    result = await finished(handle, 120)
    assert result.state == "failed_over"

    assert [(g.gate, g.by, g.allowed, g.verified, g.client) for g in result.gates] == [
        ("request", "alice", True, True, HOST), ("force", "alice", True, True, HOST),
        ("approve", "carol", False, False, HOST), ("approve", "bob", False, False, HOST),
        ("approve", "alice", False, False, HOST), ("approve", "bob", True, True, HOST),
        ("continue", "dave", True, True, HOST)]
    assert [(a.by, a.comment, a.verified) for a in result.approvals] == [("bob", "CHG-7", True)]
    steps = {s.name: s for s in result.steps}
    assert steps[f"approval by a member of {OPERATORS}"].detail == f"{approved}: CHG-7"
    assert [s.detail for s in result.steps if s.status == "refused"] == [
        f"approve refused to {who.user} from {HOST}: {reason}" for who, reason in attempts]
    assert all(step.detail == f"skipped: --force by alice (verified by the directory, from {HOST})"
               for step in result.steps if step.name.startswith("precondition"))
    # The refusals are in the workflow's history itself, not only in its state.
    failures = await update_failures(handle)
    assert [f for f in failures if "approve refused" in f] == [
        f"approve refused to {who.user} from {HOST}: {reason}" for who, reason in attempts]
    assert (await memo_gates(handle))[-2:] == [approved, f"continued by dave (verified by the directory, from {HOST})"]

    status = await owner_status(client, runbook)
    assert status.truth.history[-1].endswith(
        f"failover requested by alice (verified by the directory, from {HOST}); forced by alice (verified by the "
        f"directory, from {HOST}): failed_over")
    made = report.build(result, report.WorkflowInfo(workflow_id=handle.id), now=datetime.now(UTC))
    assert [(a.gate, a.by, a.allowed) for a in made.actions] == [(g.gate, g.by, g.allowed) for g in result.gates]
    assert [(a.kind, a.by, a.verified) for a in made.answers] == [("approval", "bob", True), ("prompt", "dave", True)]
    assert "| approve | carol | **refused** | no |" in report.render(made, "md")


async def test_forged_names_and_copied_proofs_are_refused(client, task_queue, shop, public_key, tmp_path):
    """A raw request with a made-up name, one with the directory dropped from its runbook, a raw approval with a
    name and no proof, a proof copied from the drill's history into the failover, and a request proof sent twice:
    each refused with the reason."""
    runbook, started = shop
    settings = settings_for(task_queue)
    with pytest.raises(temporal.Refused) as forged:
        await temporal.start(client, settings, OperationRequest(operation="failover", runbook=runbook, force=True,
                                                                requested_by="root"))
    assert str(forged.value).startswith(f"request refused to root: no proof: {PROOFS_ONLY} request of failover")
    dropped = runbook.model_copy(update={"directory": None})
    with pytest.raises(temporal.Refused) as unpinned:
        await temporal.start(client, settings, OperationRequest(operation="failover", runbook=dropped, force=True,
                                                                requested_by="root"))
    assert "a request cannot change who may act" in str(unpinned.value)

    alice, bob = operator(public_key, "alice"), operator(public_key, "bob")
    drill = await request(client, runbook, task_queue, "drill", alice, keep_for=timedelta(seconds=0))
    started.append(drill)
    await waiting(drill, "waiting for an approval", lambda p: p.awaiting_approval)
    await act(client, drill.id, "approve", bob)
    assert (await finished(drill, 120)).state == "passed"
    drill_run = (await drill.describe()).run_id
    [copied] = [a.proof for a in await update_inputs(drill, "approve", OperatorAction)]
    owner = client.get_workflow_handle(temporal.owner_id(runbook.runbook))
    drill_request = next(r for r in await update_inputs(owner, "request", OperationRequest) if r.operation == "drill")
    with pytest.raises(temporal.Refused) as replayed:
        await temporal.start(client, settings, drill_request)
    assert str(replayed.value) == (f"request refused to alice from {HOST}: this proof was used already; each action "
                                   "needs a proof of its own: run the command again")

    failover = await request(client, runbook, task_queue, "failover", alice, force=True)
    started.append(failover)
    await waiting(failover, "waiting for an approval", lambda p: p.awaiting_approval)
    with pytest.raises(WorkflowUpdateFailedError) as raw:
        await failover.execute_update("approve", Approval(by="bob"), result_type=str)
    refused_with(raw, f"approve refused to bob: no proof: {PROOFS_ONLY} approve of failover")
    with pytest.raises(WorkflowUpdateFailedError) as pasted:
        await failover.execute_update("approve", OperatorAction(by="bob", proof=copied), result_type=str)
    run = (await failover.describe()).run_id
    refused_with(pasted, f"the proof is for approve of {drill.id} run {drill_run}, not approve of {failover.id} "
                         f"run {run}")
    progress = await waiting(failover, "still waiting", lambda p: p.awaiting_approval)
    assert [(g.gate, g.by, g.allowed) for g in progress.gates] == [
        ("request", "alice", True), ("force", "alice", True), ("approve", "bob", False), ("approve", "bob", False)]
    history = (await owner_status(client, runbook)).truth.history
    assert any("failover: request refused to root: no proof" in entry for entry in history)
    assert any("drill: request refused to alice" in entry and "used already" in entry for entry in history)


async def test_force_yes_and_abort_are_refused_to_those_not_allowed_and_recorded_for_those_allowed(
        client, task_queue, shop, public_key, tmp_path):
    """Through the CLI: bob may not skip a drill's approval or abort it; alice may, and both are recorded; the
    aborted drill cleans up and ends `cancelled`. bob may not force a failover; under four_eyes no one skips its
    approval; alice's --force is recorded on the skipped preconditions."""
    runbook, started = shop
    file = str(tmp_path / f"{runbook.runbook}.yaml")  # where runbook_variant wrote it, next to shop_file
    pw = {name: password_file(tmp_path, name) for name in ("alice", "bob")}
    ident = f"standby/{runbook.runbook}/drill"

    bob_yes = await cli(client, task_queue, public_key, "drill", file, "--yes", "--detach", "--user", "bob",
                        "--password-file", pw["bob"])
    assert bob_yes.exit_code == 1, bob_yes.output
    assert (f"skip_approval refused to bob from {HOST}: bob is not allowed by access.drill.skip_approval "
            "(user alice)") in bob_yes.output
    alice_yes = await cli(client, task_queue, public_key, "drill", file, "--yes", "--keep-for", "10m", "--detach",
                          "--user", "alice", "--password-file", pw["alice"])
    assert alice_yes.exit_code == 0, alice_yes.output
    drill = client.get_workflow_handle(ident, result_type=OperationResult)
    started.append(drill)
    await waiting(drill, "keeping its targets", lambda p: p.current.startswith("keep"))

    no_password = await cli(client, task_queue, public_key, "abort", ident, "--user", "bob")
    assert no_password.exit_code == 2 and "no directory password: give --password-file" in no_password.output
    bob_abort = await cli(client, task_queue, public_key, "abort", ident, "--user", "bob", "--password-file", pw["bob"])
    assert bob_abort.exit_code == 1
    assert f"abort refused to bob from {HOST}: bob is not allowed by access.drill.abort (user alice)" in (
        bob_abort.output)
    alice_abort = await cli(client, task_queue, public_key, "abort", ident, "--user", "alice", "--password-file",
                            pw["alice"])
    assert alice_abort.exit_code == 0, alice_abort.output
    assert f"aborted by alice (verified by the directory, from {HOST})" in alice_abort.output

    result = await finished(drill, 120)
    assert result.state == "cancelled"
    assert (await drill.describe()).status == WorkflowExecutionStatus.COMPLETED
    steps = {s.name: s for s in result.steps}
    assert steps["clean up drill targets on dr"].status == "done"
    assert steps["clean up drill targets on dr"].detail != "0 removed"
    assert any(s.status == "cancelled" and s.name.startswith("keep") for s in result.steps)
    skipped = next(s for s in result.steps if s.name.startswith("approval"))
    assert (skipped.status, skipped.detail) == ("skipped", f"skipped: --yes by alice (verified by the directory, "
                                                           f"from {HOST})")
    assert [(g.gate, g.by, g.allowed) for g in result.gates] == [
        ("request", "alice", True), ("skip_approval", "alice", True), ("abort", "bob", False), ("abort", "alice", True)]
    shown = await cli(client, task_queue, public_key, "status", ident)
    assert "operator actions" in shown.output and "REFUSED" in shown.output

    for who, flag, reason in (("bob", "--force", "bob is not allowed by access.failover.force (user alice)"),
                              ("alice", "--yes", "four_eyes: the approval of failover cannot be skipped")):
        refused = await cli(client, task_queue, public_key, "failover", file, flag, "--detach", "--user", who,
                            "--password-file", pw[who])
        assert refused.exit_code == 1 and reason in refused.output, refused.output
    forced = await cli(client, task_queue, public_key, "failover", file, "--force", "--detach", "--user", "alice",
                       "--password-file", pw["alice"])
    assert forced.exit_code == 0, forced.output
    failover = client.get_workflow_handle(f"standby/{runbook.runbook}/failover")
    started.append(failover)
    progress = await waiting(failover, "waiting for an approval", lambda p: p.awaiting_approval)
    checks = [s.detail for s in progress.steps if s.name.startswith("precondition")]
    assert checks and set(checks) == {f"skipped: --force by alice (verified by the directory, from {HOST})"}
    history = (await owner_status(client, runbook)).truth.history
    assert any(entry.endswith(f": cancelled, aborted by alice (verified by the directory, from {HOST})")
               and " drill requested by alice" in entry for entry in history)
    assert any(f"failover: force refused to bob from {HOST}" in entry for entry in history)
    assert any("failover: skip_approval refused to alice" in entry for entry in history)


class NameAtGate(BaseModel):
    """A name at a gate of a runbook without a directory."""

    access: AccessRule
    gate: Gate
    by: str
    requester: str = ""


@workflow.defn
class NameGateWorkflow:
    """Test-only: one attempt at a gate of a runbook that names no directory, its record returned."""

    @workflow.run
    async def run(self, attempt: NameAtGate) -> GateRecord:
        binding = Binding(workflow_id=workflow.info().workflow_id, gate=attempt.gate)
        return await gates.Gatekeeper().check(gates.Rules("failover", attempt.access, None), binding, attempt.by, "",
                                              attempt.requester)


async def test_pausing_and_resuming_the_monitor_are_gates_the_directory_proves(
        client, task_queue, shop, public_key, tmp_path):
    """`standby protect pause|resume`: carol, in no group of access.protect.pause, is refused with exit 1 and a
    message naming the right and the command; with no password it exits 2; alice pauses and status shows her,
    proven; bob, a nested member, resumes (resume falls back to pause's grant)."""
    runbook, _ = shop
    name, pw = runbook.runbook, {who: password_file(tmp_path, who) for who in ("alice", "bob", "carol")}
    carol = await cli(client, task_queue, public_key, "protect", "pause", name, "--user", "carol",
                      "--password-file", pw["carol"])
    assert carol.exit_code == 1, carol.output
    assert (f"`standby protect pause {name}` refused: pause refused to carol from {HOST}: carol is not allowed by "
            "access.protect.pause (group dr-operators)") in carol.output
    no_password = await cli(client, task_queue, public_key, "protect", "pause", name, "--user", "alice")
    assert no_password.exit_code == 2 and "no directory password: give --password-file" in no_password.output
    assert not (await owner_status(client, runbook)).monitor.paused

    alice = await cli(client, task_queue, public_key, "protect", "pause", name, "--user", "alice",
                      "--password-file", pw["alice"], "--reason", "patching")
    assert alice.exit_code == 0, alice.output
    proven = f"alice (verified by the directory, from {HOST})"
    assert f"monitor of {name} paused by {proven}" in alice.output
    monitor = (await owner_status(client, runbook)).monitor
    assert monitor.paused and monitor.pause is not None and (monitor.pause.by, monitor.pause.verified) == (
        "alice", True)
    shown = await cli(client, task_queue, public_key, "status", name)
    assert f"monitor: paused by {proven} (maintenance mode)" in shown.output
    assert f"paused by {proven}: patching" in shown.output and "pause refused to carol" in shown.output

    bob = await cli(client, task_queue, public_key, "protect", "resume", name, "--user", "bob",
                    "--password-file", pw["bob"])
    assert bob.exit_code == 0, bob.output
    assert f"monitor of {name} resumed by bob (verified by the directory, from {HOST})" in bob.output
    assert not (await owner_status(client, runbook)).monitor.paused


async def test_without_a_directory_names_pass_unverified_and_four_eyes_still_holds(client, task_queue):
    """No directory: a name passes as given, recorded as not verified; four_eyes still refuses a skipped approval
    and the requester's own name (in any case) at the approval."""
    four_eyes = AccessRule(four_eyes=True)
    cases = [(AccessRule(), "skip_approval", "alice", "", (True, "")),
             (four_eyes, "skip_approval", "alice", "", (False, "four_eyes: the approval of failover cannot be skipped; "
                                                             "a second person approves it")),
             (four_eyes, "approve", "Alice", "alice", (False, "four_eyes: Alice requested failover and may not "
                                                             "approve it too")),
             (four_eyes, "approve", "bob", "alice", (True, ""))]
    async with Worker(client, task_queue=task_queue, workflows=[NameGateWorkflow]):
        for access, gate, by, requester, expected in cases:
            record = await client.execute_workflow(
                NameGateWorkflow.run, NameAtGate(access=access, gate=gate, by=by, requester=requester),
                id=f"name-gate-{uuid.uuid4()}", task_queue=task_queue)
            assert (record.allowed, record.reason) == expected and not record.verified
    assert record.describe() == "approved by bob (not verified: the runbook names no directory)"
