"""The gates of a workflow: each operator action verified by the worker, or taken as given without a directory.

With a `directory:` in the runbook, an action passes only with a sealed proof that the `verify_operator` activity
opens with the worker's private key, checks against the binding this workflow expects (its ID, its run, the gate),
and proves to the directory; each proof passes once. Without a directory, the name is taken as given and recorded
as not verified. Either way the attempt becomes a GateRecord, which the caller puts on the record.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from standby.access import VERIFY_OPERATOR, Binding, Verdict, VerifyInput
    from standby.contracts.gates import GateRecord
    from standby.contracts.monitor import MonitorCommand
    from standby.contracts.state import OperationRequest
    from standby.proof import CLOCK_SKEW
    from standby.runbook import AccessRule, Directory, Gate, Operation, Runbook

# A directory that does not answer is asked again a few times (the proof stays good for minutes); then the
# operator hears why and runs the command again.
VERIFY_RETRIES = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2, maximum_attempts=4)
# Memo entries kept: the memo is for a glance in the UI; the progress and the result hold every record.
MEMO_RECORDS = 20
# How a record of the protect monitor's own request names what allowed it.
MONITOR_AUTHORITY = "the protect monitor, as the runbook's pairs say"


@dataclass(frozen=True)
class Rules:
    """Who may act on one operation of a runbook, and the directory that proves them (None: names as given)."""

    operation: str
    access: AccessRule
    directory: Directory | None

    @classmethod
    def of(cls, runbook: Runbook, operation: str) -> "Rules":
        """The rules of `operation` (or `protect`: the monitor's pause and resume) in `runbook`; what the runbook
        names no access for is granted to nobody once a directory is named."""
        return cls(operation, runbook.access.get(cast(Operation, operation)) or AccessRule(), runbook.directory)


class Gatekeeper:
    """Verifies actions against rules and remembers the nonces of the proofs it let pass, until they expire."""

    def __init__(self, nonces: dict[str, float] | None = None) -> None:
        self.nonces = dict(nonces or {})

    async def check(self, rules: Rules, binding: Binding, by: str, proof: str, requester: str = "") -> GateRecord:
        """The record of one attempt at `binding.gate`: allowed or refused, with the reason."""
        gate = binding.gate
        if rules.directory is None:
            reason = _four_eyes_by_name(rules, gate, by, requester)
            return GateRecord(gate=gate, by=by, allowed=reason is None, reason=reason or "", at=workflow.now())
        if not proof:
            return GateRecord(gate=gate, by=by, allowed=False, at=workflow.now(), reason=(
                f"no proof: the runbook names a directory, so {gate} of {rules.operation} needs the operator's "
                "directory password, sealed by the CLI (`--user NAME`, and `--password-file` or a prompt)"))
        try:
            verdict = await self._verify(rules, binding, proof, requester)
        except ActivityError as error:
            return GateRecord(gate=gate, by=by, allowed=False, at=workflow.now(),
                              reason=f"the worker could not verify the proof ({_cause(error)}); run the command again")
        record = GateRecord(gate=gate, by=verdict.user or by, allowed=verdict.allowed, verified=verdict.allowed,
                            reason=verdict.reason, client=verdict.client, at=workflow.now(), groups=verdict.groups)
        return self._once(record, verdict)

    async def _verify(self, rules: Rules, binding: Binding, proof: str, requester: str) -> Verdict:
        assert rules.directory is not None
        inp = VerifyInput(proof=proof, binding=binding, access=rules.access, directory=rules.directory,
                          operation=rules.operation, requester=requester or None)
        verdict: Verdict = await workflow.execute_activity(
            VERIFY_OPERATOR, inp, result_type=Verdict, summary=f"verify {binding.gate} of {rules.operation}",
            start_to_close_timeout=rules.directory.timeout * 3 + timedelta(seconds=10), retry_policy=VERIFY_RETRIES)
        return verdict

    def _once(self, record: GateRecord, verdict: Verdict) -> GateRecord:
        """The record, refused when the proof's nonce passed already: a proof read from a history stays useless."""
        if not verdict.nonce:
            return record
        now = workflow.now().timestamp()
        self.nonces = {n: until for n, until in self.nonces.items() if until + CLOCK_SKEW > now}
        if verdict.nonce in self.nonces:
            return record.refused("this proof was used already; each action needs a proof of its own: "
                                  "run the command again")
        self.nonces[verdict.nonce] = verdict.expires_at
        return record


def pinned(held: Runbook, requested: Runbook) -> str | None:
    """Why a request may not carry these rules: once the owner holds a directory, its access rules stay.

    The runbook travels with each request, so a requester could otherwise drop the directory or grant themselves
    the approval in their own copy of the file.
    """
    if held.directory is None or (held.directory, held.access) == (requested.directory, requested.access):
        return None
    return (f"the runbook's directory: or access: differ from those the owner of {held.runbook} holds; a request "
            "cannot change who may act (the new rules would not be proven by the old ones): restore them in the "
            "file, or see README, Access and secrets, on changing them")


async def admit(keeper: Gatekeeper, request: OperationRequest, ident: str, held: Runbook) -> list[GateRecord]:
    """The records of a request's gates (request, force with --force, skip_approval with --yes), in order,
    verified against the rules the owner holds; the last one is refused when the request may not start."""
    by = request.requested_by
    reason = pinned(held, request.runbook)
    if reason is not None:
        return [GateRecord(gate="request", by=by, allowed=False, at=workflow.now(), reason=reason)]
    rules = Rules.of(held if held.directory is not None else request.runbook, request.operation)
    records: list[GateRecord] = []
    for gate in request.gates():
        binding = Binding(workflow_id=ident, gate=gate)
        records.append(await keeper.check(rules, binding, by, request.proofs.get(gate, "")))
        if not records[-1].allowed:
            break
    return records


async def monitor_gate(keeper: Gatekeeper, runbook: Runbook, command: MonitorCommand) -> GateRecord:
    """The record of a pause or resume of the runbook's protect monitor, verified against `access.protect`; bound
    to this run of the owner. Owners that took it as given before keep doing so in their histories."""
    if runbook.directory is not None and not workflow.patched("monitor-gates"):
        return GateRecord(gate=command.action, by=command.by, allowed=True, at=workflow.now())
    info = workflow.info()
    binding = Binding(workflow_id=info.workflow_id, run_id=info.run_id, gate=command.action)
    return await keeper.check(Rules.of(runbook, "protect"), binding, command.by, command.proof)


def by_monitor(request: OperationRequest) -> list[GateRecord]:
    """The records of a request the protect monitor made: allowed by the runbook's pairs, never by a person.

    Only the owner's own monitor reaches this (not an update), so no client can pass for it by its name.
    """
    return [GateRecord(gate=gate, by=request.requested_by, allowed=True, authority=MONITOR_AUTHORITY,
                       at=workflow.now()) for gate in request.gates()]


def refusal(record: GateRecord) -> ApplicationError:
    """The error that fails an update with the record's reason."""
    return ApplicationError(record.describe(), type="Refused", non_retryable=True)


def memo(records: list[GateRecord]) -> None:
    """The latest records in the memo, for the UI; behind a patch so that histories recorded before it replay."""
    if workflow.patched("gates"):
        workflow.upsert_memo({"gates": [r.describe() for r in records[-MEMO_RECORDS:]]})


def _four_eyes_by_name(rules: Rules, gate: Gate, by: str, requester: str) -> str | None:
    """What four_eyes refuses when names are taken as given: a skipped approval, and the requester's own name."""
    if not rules.access.four_eyes:
        return None
    if gate == "skip_approval":
        return f"four_eyes: the approval of {rules.operation} cannot be skipped; a second person approves it"
    if gate == "approve" and requester and by.lower() == requester.lower():
        return f"four_eyes: {by} requested {rules.operation} and may not approve it too"
    return None


def _cause(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return error.message if isinstance(error, ApplicationError) else str(error) or type(error).__name__
