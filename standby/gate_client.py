"""The operator's side of a gate: who acts, and the sealed proof that the worker checks before the action counts.

Without a `directory:` in the runbook a gate takes the name as given, and nothing is sealed. With one, the CLI
reads the operator's password (a file, STANDBY_PASSWORD, or a prompt on a terminal; never an argument) and seals
it to the worker's public key, bound to the one workflow run and gate the action is for.
"""

import getpass
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

from standby import executions
from standby.access import Binding
from standby.contracts.gates import OperatorAction
from standby.contracts.monitor import MonitorCommand
from standby.contracts.state import OperationRequest
from standby.proof import USER_ENV, ProofError, credentials, public_key_from_env, seal
from standby.runbook import Gate, Runbook


def _terminal_prompt(text: str) -> str:
    """The password from the terminal; a script without one is told where else it may come from."""
    if not sys.stdin.isatty():
        raise ProofError("no directory password: give --password-file FILE or set STANDBY_PASSWORD "
                         "(there is no terminal to ask on)")
    return getpass.getpass(text)


@dataclass(frozen=True)
class Identity:
    """Who runs the command: the username as given (else STANDBY_USER, else the login name), and where the
    password comes from when a gate needs a proof."""

    user: str | None = None
    password_file: Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    prompt: Callable[[str], str] = _terminal_prompt

    def name(self) -> str:
        """The username, for a gate that takes it as given."""
        return self.user or self.environ.get(USER_ENV) or getpass.getuser()

    def seal(self, bindings: list[Binding]) -> tuple[str, list[str]]:
        """The username and one proof per binding, the password read once; ProofError when a key or it is missing."""
        key = public_key_from_env(self.environ)
        name, password = credentials(self.user, self.password_file, self.environ, self.prompt)
        return name, [seal(key, name, password, binding) for binding in bindings]


def with_proofs(request: OperationRequest, identity: Identity) -> OperationRequest:
    """The request under the operator's name, its proofs sealed (bound to the operation's workflow ID) when the
    runbook names a directory."""
    if request.runbook.directory is None:
        return request.model_copy(update={"requested_by": identity.name()})
    ident = f"standby/{request.runbook.runbook}/{request.operation}"
    gates = request.gates()
    name, proofs = identity.seal([Binding(workflow_id=ident, gate=gate) for gate in gates])
    return request.model_copy(update={"requested_by": name, "proofs": dict(zip(gates, proofs, strict=True))})


async def action(client: Client, workflow_id: str, gate: Gate, identity: Identity,
                 comment: str = "") -> tuple[str, OperatorAction]:
    """The run to send the action to, and the action: a proof bound to that run and gate when its runbook names a
    directory, else the name as given."""
    run = await executions.describe(client, workflow_id)
    progress = await executions.progress_of(client, workflow_id)
    if not progress.proof_needed:
        return run.run_id, OperatorAction(by=identity.name(), comment=comment)
    name, [proof] = identity.seal([Binding(workflow_id=workflow_id, run_id=run.run_id, gate=gate)])
    return run.run_id, OperatorAction(by=name, comment=comment, proof=proof)


async def monitor_command(client: Client, owner_id: str, gate: Gate, identity: Identity,
                          reason: str = "") -> tuple[str, MonitorCommand]:
    """The owner's run to pause or resume the monitor of, and the command: a proof bound to that run and gate when
    the runbook the owner holds names a directory, else the name as given."""
    run = await executions.describe(client, owner_id)
    held = await client.get_workflow_handle(owner_id, run_id=run.run_id).query("runbook", result_type=Runbook)
    action = "pause" if gate == "pause" else "resume"
    if held.directory is None:
        return run.run_id, MonitorCommand(action=action, by=identity.name(), reason=reason)
    name, [proof] = identity.seal([Binding(workflow_id=owner_id, run_id=run.run_id, gate=gate)])
    return run.run_id, MonitorCommand(action=action, by=name, reason=reason, proof=proof)
