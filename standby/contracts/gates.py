"""Operator actions at an operation's gates, and the record of every attempt, allowed or refused.

A gate is passed by an OperatorAction (the `approve`, `continue` and `abort` updates; the proofs of a request).
Whatever the worker decided becomes a GateRecord: on the timeline, in the memo, the result, the report and
`standby status`. A record never holds a password or a proof, only who, how they were proven, when and from where.
"""

from datetime import datetime

from pydantic import BaseModel, Field

from standby.runbook import Gate

NO_DIRECTORY = "not verified: the runbook names no directory"
"""How an action is recorded when the runbook has no `directory:`: the name is taken as given."""

_DONE = {"request": "requested", "approve": "approved", "continue": "continued", "abort": "aborted",
         "force": "forced", "skip_approval": "approval skipped", "pause": "paused", "resume": "resumed"}


class OperatorAction(BaseModel):
    """What `standby approve|continue|abort` sends: who (as typed), a comment, and the sealed proof."""

    by: str = ""
    comment: str = ""
    proof: str = Field("", description="sealed to the worker's public key by the CLI; empty without a directory")


class GateRecord(BaseModel):
    """One attempt at a gate: who, whether the directory proved them, allowed or refused and why, when, from where."""

    gate: Gate
    by: str
    allowed: bool
    verified: bool = Field(False, description="proven by the directory on the worker")
    reason: str = ""
    client: str = Field("", description="the host the CLI said it ran on")
    at: datetime | None = None
    groups: list[str] = []
    authority: str = Field("", description="what allowed it when no person acted (the protect monitor)")

    def who(self) -> str:
        """`alice (verified by the directory, from laptop-7)`, or `alice (not verified: ...)`."""
        how = self.authority or ("verified by the directory" if self.verified else NO_DIRECTORY)
        return f"{self.by or 'someone'} ({how}{f', from {self.client}' if self.client else ''})"

    def describe(self) -> str:
        """`approved by alice (...)`, or `approve refused to mallory from laptop-7: why`."""
        if self.allowed:
            return f"{_DONE[self.gate]} by {self.who()}"
        where = f" from {self.client}" if self.client else ""
        return f"{self.gate} refused to {self.by or 'someone'}{where}: {self.reason}"

    def refused(self, reason: str) -> "GateRecord":
        """This attempt, refused for `reason` after all (the gate closed while the worker verified it)."""
        return self.model_copy(update={"allowed": False, "reason": reason})


def summary(records: list[GateRecord]) -> str:
    """`requested by alice (...); forced by alice (...)`: the allowed records, in order."""
    return "; ".join(r.describe() for r in records if r.allowed)
