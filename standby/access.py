"""What the worker checks before an operator's action takes effect: the contract of `verify_operator`.

The CLI seals the operator's directory credentials to the worker's public key (standby.proof) together with
the Binding of the action; the workflow passes the sealed proof, the binding it expects and the runbook's
access rule to the `verify_operator` activity, which returns a Verdict. Nothing here holds a password.
"""

from pydantic import BaseModel

from standby.runbook import AccessRule, Directory, Gate

VERIFY_OPERATOR = "verify_operator"
"""The activity's name."""


class Binding(BaseModel):
    """The one action a proof is good for: a gate of one run of one workflow."""

    workflow_id: str
    run_id: str = ""
    """Empty for `request`: the run does not exist yet when the CLI seals the proof that starts it."""
    gate: Gate

    def describe(self) -> str:
        """The binding in a phrase, for reasons."""
        return f"{self.gate} of {self.workflow_id}" + (f" run {self.run_id}" if self.run_id else "")


class VerifyInput(BaseModel):
    """A sealed proof and what it must prove: the binding the workflow expects and who the runbook lets act."""

    proof: str
    binding: Binding
    access: AccessRule
    directory: Directory | None = None
    operation: str = ""
    """The operation's name (failover, drill, ...), for reasons."""
    requester: str | None = None
    """Who requested the operation, proven earlier: with four_eyes, they may not approve it."""


class Verdict(BaseModel):
    """The worker's decision on one attempted action, to be recorded whichever way it went."""

    allowed: bool
    gate: Gate
    reason: str
    user: str = ""
    """The username the proof names; proven by the directory only when allowed."""
    dn: str = ""
    groups: list[str] = []
    """The rule's groups the person is in (nested membership included)."""
    nonce: str = ""
    """The proof's nonce: a workflow refuses a second action with the same one."""
    expires_at: float = 0.0
    """When the proof expires (seconds since the epoch): a workflow forgets its nonce after that."""
    client: str = ""
    """The host the CLI said it ran on."""
