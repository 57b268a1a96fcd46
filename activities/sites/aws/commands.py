"""Post-launch commands on a launched instance through SSM Run Command: each waited for, never sent twice.

A command carries the comment `standby <launch tag> <index>`; a retried launch finds the command its first try
sent (SSM has no client token) and waits for that one instead of running it again.
"""

from __future__ import annotations

import asyncio
import shlex

from activities.sites.aws.clients import Api
from activities.sites.aws.drs import heartbeat
from activities.sites.base import PermanentProviderError, ProviderError

DOCUMENT = "AWS-RunShellScript"
FAILED = {"Cancelled", "TimedOut", "Failed", "Cancelling", "Undeliverable", "Terminated", "InvalidPlatform",
          "AccessDenied", "DeliveryTimedOut", "ExecutionTimedOut"}
# The SSM agent of a just-launched instance registers within minutes; until then SSM calls the instance invalid.
NOT_REGISTERED = frozenset({"InvalidInstanceId"})
NOT_YET = frozenset({"InvocationDoesNotExist"})


async def run_all(api: Api, instance: str, commands: list[list[str]], tag: str, poll: float,
                  timeout: float) -> list[str]:
    """Run each argv on the instance in order; the tail of each one's output."""
    return [await run_one(api, instance, argv, f"standby {tag} {i}", poll, timeout) for i, argv in enumerate(commands)]


async def run_one(api: Api, instance: str, argv: list[str], comment: str, poll: float, timeout: float) -> str:
    """Run one argv through SSM (or find the one already sent) and wait for it to succeed."""
    deadline = asyncio.get_running_loop().time() + timeout
    command = await _sent(api, instance, comment) or await _send(api, instance, argv, comment, poll, deadline)
    text = shlex.join(argv)
    while True:
        found = await api.call("ssm", "get_command_invocation", instance, benign=NOT_YET, CommandId=command,
                               InstanceId=instance)
        status = (found or {}).get("Status", "Pending")
        if status == "Success":
            return (found or {}).get("StandardOutputContent", "")[-2000:]
        if status in FAILED:
            error = ((found or {}).get("StandardErrorContent") or "").strip()[-500:]
            raise PermanentProviderError(f"post-launch command `{text}` {status.lower()} on {instance}"
                                         + (f": {error}" if error else "") + f" [{api.describe}]")
        _expire(deadline, f"post-launch command `{text}` still {status.lower()} on {instance}", api)
        heartbeat(f"{instance}: `{text}` {status.lower()}")
        await asyncio.sleep(poll)


async def _sent(api: Api, instance: str, comment: str) -> str | None:
    commands = await api.pages("ssm", "list_commands", "Commands", instance, InstanceId=instance)
    mine = [c for c in commands if c.get("Comment") == comment]
    return mine[-1]["CommandId"] if mine else None


async def _send(api: Api, instance: str, argv: list[str], comment: str, poll: float, deadline: float) -> str:
    while True:
        sent = await api.call("ssm", "send_command", instance, benign=NOT_REGISTERED, InstanceIds=[instance],
                              DocumentName=DOCUMENT, Parameters={"commands": [shlex.join(argv)]}, Comment=comment)
        if sent is not None:
            return sent["Command"]["CommandId"]
        _expire(deadline, f"{instance} is not registered with SSM (agent, instance profile, network)", api)
        heartbeat(f"{instance}: waiting for the SSM agent")
        await asyncio.sleep(poll)


def _expire(deadline: float, what: str, api: Api) -> None:
    if asyncio.get_running_loop().time() > deadline:
        raise ProviderError(f"{what} [{api.describe}]")
