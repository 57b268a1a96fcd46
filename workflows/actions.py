"""The steps operations share, each one activity (or a prompt) with the retry policy its step needs."""

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from standby import templates
    from standby.contracts.checks import HealthInput, ProbeResult
    from standby.contracts.commands import CommandResult, StepCommand
    from standby.contracts.sites import (
        AppInput,
        AppRef,
        DirectionInput,
        IdentityInput,
        LaunchInput,
        MachineReplication,
        PointsInput,
        RecoveryPoint,
        RemediationInput,
        RemediationResult,
        ReplicationInput,
        StopResult,
        Target,
        TerminateInput,
        app_ref,
        machine_index,
        machine_refs,
        site_ref,
    )
    from standby.contracts.state import RunbookState, StateUpdate
    from standby.runbook import HealthCheck, Runbook
    from workflows import policies
    from workflows.operator import Operator

PROVIDER = dict(retry_policy=policies.PROVIDER, start_to_close_timeout=policies.PROVIDER_TIMEOUT,
                heartbeat_timeout=policies.PROVIDER_HEARTBEAT)
LAUNCH = dict(retry_policy=policies.LAUNCH, start_to_close_timeout=policies.LAUNCH_TIMEOUT,
              heartbeat_timeout=policies.PROVIDER_HEARTBEAT)
STATE = dict(retry_policy=RetryPolicy(maximum_attempts=5), start_to_close_timeout=timedelta(seconds=30))


async def run_hook(op: Operator, runbook: Runbook, index: int, context: dict[str, str]) -> None:
    """A command step or prompt step of the runbook, honouring its on_failure."""
    hook = runbook.hooks[index]
    where = dict(group=context.get("group") or None, app=context.get("app") or None)
    if hook.prompt is not None:
        try:
            # Compiling a template imports jinja2.runtime when it runs; in the sandbox that import must be the
            # worker's module, else jinja2 is imported afresh there and trips the sandbox (threading.Lock).
            with workflow.unsafe.imports_passed_through():
                question = templates.render(hook.prompt, context)
        except templates.TemplateFailed as error:
            # Raised in workflow code, any other exception would fail the workflow task again and again.
            await _hook_failed(op, hook.at, hook.on_failure, str(error), where)
            return
        await op.prompt(question, **where)
        return
    if hook.action is not None:
        await _remediate(op, runbook, index, context, where)
        return
    command = StepCommand(argv=list(hook.run or []), env=dict(hook.env), context=context,
                          timeout_seconds=hook.timeout.total_seconds(), label=hook.at)
    try:
        async with op.step(f"hook {hook.at}: {' '.join(command.argv)}", **where) as record:
            result = await workflow.execute_activity(
                "run_step", command, result_type=CommandResult, summary=f"hook {hook.at}",
                **policies.hook_options(hook.timeout, hook.retries),
            )
            record.output = (result.stdout + result.stderr)[-4000:]
    except ActivityError as error:
        await _hook_failed(op, hook.at, hook.on_failure, _cause(error), where)


async def _remediate(op: Operator, runbook: Runbook, index: int, context: dict[str, str], where: dict) -> None:
    """A remediation action (vSphere): restart, reset, vMotion or Storage vMotion a VM."""
    hook = runbook.hooks[index]
    assert hook.action is not None
    kind, target = hook.action.kind, hook.action.target
    site = target.site or context["target"]
    inp = RemediationInput(site=site_ref(runbook, site), vm=target.vm, host=getattr(target, "host", None),
                           datastore=getattr(target, "datastore", None))
    try:
        async with op.step(f"action {hook.at}: {kind} {target.vm} on {site}", **where) as record:
            result = await workflow.execute_activity(
                f"vsphere_{kind}", inp, result_type=RemediationResult, summary=f"{kind} {target.vm} on {site}",
                retry_policy=policies.HOOK(hook.retries), start_to_close_timeout=hook.timeout,
                heartbeat_timeout=policies.PROVIDER_HEARTBEAT,
            )
            record.detail = result.outcome + (f" (host {result.host})" if result.host else "")
    except ActivityError as error:
        await _hook_failed(op, hook.at, hook.on_failure, _cause(error), where)


async def _hook_failed(op: Operator, at: str, on_failure: str, reason: str, where: dict) -> None:
    if on_failure == "continue":
        return
    if on_failure == "prompt":
        await op.prompt(f"hook {at} failed ({reason}); continue the operation?", **where)
        return
    raise ApplicationError(f"hook {at} failed: {reason}", type="HookFailed", non_retryable=True)


def _cause(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    # str() of an ApplicationError puts its type in front ("HookFailed: hook ..."); the message reads better.
    return error.message if isinstance(error, ApplicationError) else str(error)


async def check_health(app: AppRef, check: HealthCheck, target: Target) -> ProbeResult:
    """Probe one target until healthy or the check's deadline."""
    kind = "tcp" if check.tcp else "http" if check.http else "command"
    spec = check.tcp or check.http
    inp = HealthInput(
        kind=kind, host=(spec.host if spec and spec.host else target.address or "127.0.0.1"),
        port=(spec.port if spec and spec.port else target.port), path=check.http.path if check.http else "/",
        expect_status=check.http.expect if check.http else 200,
        argv=list(check.command.run) if check.command else [], timeout_seconds=check.timeout.total_seconds(),
        label=f"{app.name}/{target.machine} {kind}",
    )
    return await workflow.execute_activity(
        "check_health", inp, result_type=ProbeResult, summary=f"health {app.name} on {target.site}",
        **policies.health_options(check.within),
    )


async def recovery_point(runbook: Runbook, source: str, target: str, machine: str,
                         at_or_before: datetime | None) -> RecoveryPoint:
    """The newest point of a machine, or the newest at or before a time."""
    points = await workflow.execute_activity(
        "recovery_points", PointsInput(source=site_ref(runbook, source), target=site_ref(runbook, target),
                                       machine=machine_refs(runbook, [machine])[0]),
        result_type=list[RecoveryPoint], summary=f"recovery points of {machine}", **PROVIDER,
    )
    eligible = [p for p in points if at_or_before is None or p.time <= at_or_before]
    if not eligible:
        when = f" at or before {at_or_before.isoformat()}" if at_or_before else ""
        raise ApplicationError(f"no recovery point of {machine}{when} [site={target}]", type="NoRecoveryPoint",
                               non_retryable=True)
    return max(eligible, key=lambda p: p.time)


async def launch(inp: LaunchInput) -> Target:
    """Launch one machine's target (idempotent on the operation key)."""
    point = f" from {inp.point.time.strftime('%Y-%m-%dT%H:%M:%SZ')}" if inp.point else ""
    return await workflow.execute_activity(
        "launch_target", inp, result_type=Target,
        summary=f"launch {inp.app.name}/{inp.machine.name} on {inp.site.name}{point}", **LAUNCH,
    )


async def stop_app(runbook: Runbook, site: str, app: str) -> StopResult:
    """Stop an app's machines at a site; failing to stop is fatal for the caller (fencing)."""
    return await workflow.execute_activity(
        "stop_app", AppInput(site=site_ref(runbook, site), app=app_ref(runbook, app)), result_type=StopResult,
        summary=f"stop {app} on {site}", **PROVIDER,
    )


async def move_identity(runbook: Runbook, app: str, site: str, targets: list[Target]) -> str:
    """Point an app's network identity at a site."""
    inp = IdentityInput(runbook=runbook.runbook, app=app_ref(runbook, app), site=site_ref(runbook, site),
                        targets=targets)
    return await workflow.execute_activity("move_identity", inp, result_type=str,
                                           summary=f"move identity of {app} to {site}", **PROVIDER)


async def terminate(runbook: Runbook, site: str, key: str | None = None, prefix: str | None = None) -> list[str]:
    """Remove targets launched under a key, or under every key with a prefix."""
    inp = TerminateInput(site=site_ref(runbook, site), key=key, prefix=prefix)
    return await workflow.execute_activity("terminate_targets", inp, result_type=list[str],
                                           summary=f"terminate targets on {site}", **PROVIDER)


def replication_input(runbook: Runbook, source: str, target: str, apps: list[str], seconds: float = 5,
                      supervise: bool = False) -> ReplicationInput:
    """Replication of the machines of some apps from source into target; `supervise` adds the apps themselves
    (protection looks after their endpoints), which a status check or a drain does not need."""
    machines = [m for a in apps for m in runbook.apps[a].machines]
    index = machine_index(runbook)
    return ReplicationInput(
        source=site_ref(runbook, source), target=site_ref(runbook, target), machines=machine_refs(runbook, machines, index),
        retention=runbook.protection.recovery_points, seconds=seconds,
        apps=[app_ref(runbook, a, index) for a in apps] if supervise else [],
    )


async def replication_status(runbook: Runbook, source: str, target: str, apps: list[str]) -> list[MachineReplication]:
    """Replication state of the machines of some apps."""
    return await workflow.execute_activity(
        "replication_status", replication_input(runbook, source, target, apps), result_type=list[MachineReplication],
        summary=f"replication {source} -> {target}", **PROVIDER,
    )


async def drain(runbook: Runbook, source: str, target: str, apps: list[str]) -> list[MachineReplication]:
    """One replication pass after the source stopped: the target gets every acknowledged write."""
    inp = replication_input(runbook, source, target, apps, seconds=0)
    return await workflow.execute_activity("replicate", inp, result_type=list[MachineReplication],
                                           summary=f"drain replication {source} -> {target}", **PROVIDER)


async def set_direction(runbook: Runbook, source: str, target: str, running: bool) -> None:
    """Replicate source -> target from now on (or pause replication)."""
    machines = machine_refs(runbook, list(runbook.machines))
    inp = DirectionInput(source=site_ref(runbook, source), target=site_ref(runbook, target), machines=machines,
                         running=running)
    verb = "replicate" if running else "pause replication"
    await workflow.execute_activity("set_direction", inp, summary=f"{verb} {source} -> {target}", **PROVIDER)
    await update_state(runbook, replication_source=source, replication_target=target, replicating=running)


def initial_state(runbook: Runbook) -> RunbookState:
    """The state of a runbook never operated on: serving at its source, replicating to its target."""
    return RunbookState(runbook=runbook.runbook, active=runbook.protection.source,
                        replication_source=runbook.protection.source, replication_target=runbook.protection.target)


async def load_state(runbook: Runbook) -> RunbookState:
    """The runbook's recorded state."""
    return await workflow.execute_activity("load_state", initial_state(runbook), result_type=RunbookState,
                                           summary="load runbook state", **STATE)


async def update_state(runbook: Runbook, **changes: object) -> RunbookState:
    """Record a change of the runbook's state."""
    inp = StateUpdate(runbook=runbook.runbook, initial=initial_state(runbook), changes=changes)
    return await workflow.execute_activity("update_state", inp, result_type=RunbookState,
                                           summary=f"record {', '.join(changes)}", **STATE)


def not_continuous(states: list[MachineReplication]) -> list[str]:
    """Why each machine is not in continuous data protection."""
    return [f"{s.machine}: {s.phase}" + (f" ({s.detail})" if s.detail else "") for s in states if s.phase != "continuous"]
