"""verify_operator against a real slapd, and through a gate on the real dev server (proofs copied between runs)."""

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.access import AccessActivities
    from standby.access import VERIFY_OPERATOR, Binding, Verdict, VerifyInput
    from standby.proof import generate_keys, load_public_key, seal
    from standby.runbook import AccessRule, Directory
    from tests.slapd_fixture import PASSWORDS, Slapd

APPROVE = Binding(workflow_id="standby/shop/failover", run_id="run-1", gate="approve")
OPERATORS = "cn=dr-operators,ou=groups,dc=example,dc=org"
RULE = AccessRule.model_validate({"approve": {"groups": [OPERATORS], "users": ["carol"]},
                                  "abort": {"groups": ["auditors"]}, "four_eyes": True})


@pytest.fixture
def worker_keys(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The worker's environment naming its private key, and the public key file CLIs get."""
    generate_keys(tmp_path / "worker.key", tmp_path / "worker.pub")
    return {"STANDBY_WORKER_KEY": str(tmp_path / "worker.key")}, tmp_path / "worker.pub"


async def verify(slapd: Slapd, worker_keys, user: str, password: str, binding: Binding = APPROVE,
                 rule: AccessRule = RULE, requester: str | None = "erin", **sealing) -> Verdict:
    environ, public = worker_keys
    proof = seal(load_public_key(public), user, password, binding, **sealing)
    inp = VerifyInput(proof=proof, binding=binding, access=rule, directory=slapd.directory(), operation="failover",
                      requester=requester)
    return await ActivityEnvironment().run(AccessActivities(environ).verify_operator, inp)


async def test_a_member_and_a_nested_member_are_allowed(slapd, worker_keys):
    for user in ("alice", "dave"):
        verdict = await verify(slapd, worker_keys, user, PASSWORDS[user])
        assert verdict.allowed, verdict.reason
        assert verdict.user == user and verdict.groups == [OPERATORS]
        assert verdict.reason == f"{user} may approve: a member of {OPERATORS}"


async def test_a_named_user_outside_the_groups_is_allowed(slapd, worker_keys):
    verdict = await verify(slapd, worker_keys, "carol", PASSWORDS["carol"])
    assert verdict.allowed and verdict.reason == "carol may approve: named in access.failover.approve.users"


async def test_a_non_member_is_refused_with_the_reason(slapd, worker_keys):
    rule = RULE.model_copy(update={"approve": None, "ldap_group": OPERATORS})
    verdict = await verify(slapd, worker_keys, "carol", PASSWORDS["carol"], rule=rule)
    assert not verdict.allowed and verdict.user == "carol"
    assert verdict.reason == f"carol is not allowed by access.failover.approve (group {OPERATORS})"


async def test_a_wrong_password_and_an_unknown_user_are_refused(slapd, worker_keys):
    for user, password in (("alice", "guessed"), ("mallory", "anything")):
        verdict = await verify(slapd, worker_keys, user, password)
        assert not verdict.allowed
        assert verdict.reason == f"{user}: the directory refused the credentials (wrong password or unknown user)"


async def test_four_eyes_refuses_the_requester_approving_and_any_skipped_approval(slapd, worker_keys):
    verdict = await verify(slapd, worker_keys, "alice", PASSWORDS["alice"], requester="Alice")
    assert not verdict.allowed and verdict.reason == "four_eyes: alice requested failover and may not approve it too"
    unknown = await verify(slapd, worker_keys, "alice", PASSWORDS["alice"], requester=None)
    assert not unknown.allowed and "who requested failover is not known" in unknown.reason
    skip = Binding(workflow_id=APPROVE.workflow_id, gate="skip_approval")
    rule = RULE.model_copy(update={"skip_approval": RULE.grant("approve")})
    skipped = await verify(slapd, worker_keys, "alice", PASSWORDS["alice"], binding=skip, rule=rule)
    assert not skipped.allowed and "cannot be skipped" in skipped.reason


async def test_a_gate_nobody_was_granted_is_refused_even_to_approvers(slapd, worker_keys):
    force = Binding(workflow_id=APPROVE.workflow_id, run_id="run-1", gate="force")
    verdict = await verify(slapd, worker_keys, "alice", PASSWORDS["alice"], binding=force)
    assert not verdict.allowed
    assert verdict.reason == "no one may force failover: access.failover.force grants it to nobody"


async def test_expired_and_misdirected_proofs_are_refused_before_the_directory_is_asked(slapd, worker_keys):
    expired = await verify(slapd, worker_keys, "alice", PASSWORDS["alice"], now=1_000_000_000.0)
    assert not expired.allowed and "the proof expired" in expired.reason and expired.user == ""
    environ, public = worker_keys
    proof = seal(load_public_key(public), "alice", PASSWORDS["alice"], APPROVE)
    other = Binding(workflow_id="standby/shop/failback", run_id="run-1", gate="approve")
    inp = VerifyInput(proof=proof, binding=other, access=RULE, directory=slapd.directory(), operation="failback")
    verdict = await ActivityEnvironment().run(AccessActivities(environ).verify_operator, inp)
    assert not verdict.allowed and verdict.reason.startswith("the proof is for approve of standby/shop/failover")


def test_gates_fall_back_to_approve_and_ldap_group_is_the_older_spelling_of_approve():
    rule = AccessRule.model_validate({"ldap_group": OPERATORS, "users": ["erin"], "approve": {"groups": ["leads"]},
                                      "continue": {"users": ["storage"]}})
    assert rule.grant("approve").groups == ["leads", OPERATORS] and rule.grant("approve").users == ["erin"]
    assert rule.grant("request") == rule.grant("abort") == rule.grant("approve")
    assert rule.grant("continue").users == ["storage"]
    assert rule.grant("force").groups == rule.grant("skip_approval").users == []


class GateSetup(BaseModel):
    access: AccessRule
    directory: Directory


@workflow.defn
class GateWorkflow:
    """Test-only: an approval gate as an update that hands the sealed proof to verify_operator."""

    def __init__(self) -> None:
        self.verdicts: list[Verdict] = []
        self.setup: GateSetup | None = None

    @workflow.run
    async def run(self, setup: GateSetup) -> list[Verdict]:
        self.setup = setup
        await workflow.wait_condition(lambda: any(v.allowed for v in self.verdicts))
        return self.verdicts

    @workflow.update
    async def approve(self, proof: str) -> Verdict:
        await workflow.wait_condition(lambda: self.setup is not None)
        assert self.setup is not None
        info = workflow.info()
        binding = Binding(workflow_id=info.workflow_id, run_id=info.run_id, gate="approve")
        inp = VerifyInput(proof=proof, binding=binding, access=self.setup.access, directory=self.setup.directory,
                          operation="failover", requester="erin")
        verdict = await workflow.execute_activity(VERIFY_OPERATOR, inp, result_type=Verdict,
                                                  start_to_close_timeout=timedelta(seconds=30))
        self.verdicts.append(verdict)
        return verdict


async def test_a_proof_copied_from_one_operations_history_is_refused_by_another(client, task_queue, slapd,
                                                                                  worker_keys):
    environ, public = worker_keys
    setup = GateSetup(access=RULE, directory=slapd.directory())
    async with Worker(client, task_queue=task_queue, workflows=[GateWorkflow],
                      activities=[AccessActivities(environ).verify_operator]):
        first, second = [await client.start_workflow(GateWorkflow.run, setup, id=f"gate-{uuid.uuid4()}",
                                                     task_queue=task_queue) for _ in range(2)]
        binding = Binding(workflow_id=first.id, run_id=first.result_run_id or "", gate="approve")
        allowed = await first.execute_update(GateWorkflow.approve, seal(load_public_key(public), "alice",
                                                                        PASSWORDS["alice"], binding))
        assert allowed.allowed, allowed.reason
        assert [v.allowed for v in await first.result()] == [True]

        history = await first.fetch_history()
        copied = next(e.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads[0]
                      for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes"))
        refused = await second.execute_update(GateWorkflow.approve, client.data_converter.payload_converter
                                              .from_payload(copied, str))
        assert not refused.allowed and refused.reason.startswith(f"the proof is for approve of {first.id}")
        await second.terminate("test over")
    for handle in (first, second):
        raw = b"".join(e.SerializeToString() for e in (await handle.fetch_history()).events)
        assert PASSWORDS["alice"].encode() not in raw
