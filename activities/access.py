"""`verify_operator`: the worker's decision on an operator's action, from a sealed proof and the directory.

The decision is the worker's: the proof opens only with this worker's private key, the binding and expiry are
checked here, the password is checked by the directory itself (a bind as the person), and the groups are read
from the directory. The password lives in this activity's memory only; the Verdict holds none.
"""

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.directory import CredentialsRefused, DirectoryError, DirectoryUnavailable, Person, authenticate
from standby.access import VERIFY_OPERATOR, Verdict, VerifyInput
from standby.proof import Opened, ProofError, ProofRefused, open_proof, private_key_from_env
from standby.runbook import Grant

UNAVAILABLE = "DirectoryUnavailable"


def _place(inp: VerifyInput) -> str:
    return f"access.{inp.operation or 'operation'}.{inp.binding.gate}"


def _four_eyes(inp: VerifyInput, person: Person) -> str | None:
    """Why four_eyes refuses the action, or None."""
    if not inp.access.four_eyes:
        return None
    operation = inp.operation or inp.binding.workflow_id
    if inp.binding.gate == "skip_approval":
        return f"four_eyes: the approval of {operation} cannot be skipped; a second person approves it"
    if inp.binding.gate != "approve":
        return None
    if inp.requester is None:
        return f"four_eyes: who requested {operation} is not known, so {person.username} cannot be shown to differ"
    if inp.requester.lower() == person.username.lower():
        return f"four_eyes: {person.username} requested {operation} and may not approve it too"
    return None


def decide(inp: VerifyInput, person: Person) -> tuple[bool, str, list[str]]:
    """Whether the proven person passes the gate, why, and the rule's groups they are in."""
    grant: Grant = inp.access.grant(inp.binding.gate)
    gate, place = inp.binding.gate, _place(inp)
    if not grant.groups and not grant.users:
        return False, f"no one may {gate} {inp.operation or 'this operation'}: {place} grants it to nobody", []
    groups = [g for g in grant.groups if person.member_of(g)]
    named = person.username.lower() in {u.lower() for u in grant.users}
    if not groups and not named:
        allowed = ", ".join([*(f"group {g}" for g in grant.groups), *(f"user {u}" for u in grant.users)])
        return False, f"{person.username} is not allowed by {place} ({allowed})", []
    refusal = _four_eyes(inp, person)
    if refusal is not None:
        return False, refusal, groups
    why = f"a member of {groups[0]}" if groups else f"named in {place}.users"
    return True, f"{person.username} may {gate}: {why}", groups


class AccessActivities:
    """The verify_operator activity, with the worker's environment (key file, search password) and clock injected."""

    def __init__(self, environ: Mapping[str, str] = os.environ, clock: Callable[[], float] = time.time) -> None:
        self.environ, self.clock = environ, clock

    @activity.defn(name=VERIFY_OPERATOR)
    async def verify_operator(self, inp: VerifyInput) -> Verdict:
        """Open the proof, check its binding and expiry, prove the person to the directory, apply the rule."""
        try:
            opened = open_proof(private_key_from_env(self.environ), inp.proof, inp.binding, now=self.clock())
        except (ProofError, ProofRefused) as refusal:
            return Verdict(allowed=False, gate=inp.binding.gate, reason=str(refusal))
        if inp.directory is None:
            return self._verdict(inp, opened, allowed=False,
                                 reason="the runbook has no directory: section, so no operator can be proven")
        try:
            person = await asyncio.to_thread(authenticate, inp.directory, opened.username, opened.password,
                                             self.environ)
        except CredentialsRefused as refusal:
            return self._verdict(inp, opened, allowed=False, reason=f"{opened.username}: {refusal}")
        except DirectoryUnavailable as error:
            # Retried by the activity's policy: the directory may be back in a moment, and the proof is still good.
            raise ApplicationError(str(error), type=UNAVAILABLE) from None
        except DirectoryError as error:
            return self._verdict(inp, opened, allowed=False, reason=f"the directory could not decide: {error}")
        allowed, reason, groups = decide(inp, person)
        return self._verdict(inp, opened, allowed=allowed, reason=reason, dn=person.dn, groups=groups)

    @staticmethod
    def _verdict(inp: VerifyInput, opened: Opened, **fields: Any) -> Verdict:
        return Verdict(gate=inp.binding.gate, user=opened.username, nonce=opened.nonce, client=opened.client,
                       expires_at=opened.expires_at, **fields)
