"""Activity calls the interpreter's steps make, each with the retry policy its step needs."""

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from standby.contracts import names
    from standby.contracts.batches import LaunchBatchInput, LaunchProgress, StopBatchInput, StopProgress
    from standby.contracts.checks import ProbeResult, health_input
    from standby.contracts.drain import Drained, DrainThenDirectionInput
    from standby.contracts.sites import (
        AppInput,
        AppRef,
        DirectionInput,
        IdentityInput,
        LaunchInput,
        MachineReplication,
        PointsInput,
        RecoveryPoint,
        ReplicationInput,
        StopResult,
        Target,
        TerminateInput,
        app_ref,
        machine_index,
        machine_refs,
        site_ref,
    )
    from standby.contracts.stops import StopWaveInput, StopWavesInput, WavesProgress
    from standby.contracts.warm import CutOverInput, CutOverProgress
    from standby.moment import NoConsistentPoint, consistent
    from standby.plan_steps import StopApps
    from standby.runbook import HealthCheck, Runbook
    from workflows import policies

PROVIDER = policies.ActivityOptions(retry_policy=policies.PROVIDER, start_to_close_timeout=policies.PROVIDER_TIMEOUT,
                                    heartbeat_timeout=policies.PROVIDER_HEARTBEAT)
LAUNCH = policies.ActivityOptions(retry_policy=policies.LAUNCH, start_to_close_timeout=policies.LAUNCH_TIMEOUT,
                                  heartbeat_timeout=policies.PROVIDER_HEARTBEAT)


def site_queue(site: str) -> str:
    """The task queue of a site's worker, derived from this workflow's queue, so a site's actions run there."""
    return names.site_queue(workflow.info().task_queue, site)


async def check_health(app: AppRef, check: HealthCheck, target: Target) -> ProbeResult:
    """Probe one target until healthy or the check's deadline."""
    result: ProbeResult = await workflow.execute_activity(
        names.CHECK_HEALTH, health_input(app, check, target), result_type=ProbeResult,
        summary=f"health {app.name}/{target.machine} on {target.site}: {check.describe()}",
        task_queue=site_queue(target.site), **policies.health_options(check.within),
    )
    return result


async def recovery_points(runbook: Runbook, source: str, target: str, machine: str) -> list[RecoveryPoint]:
    """Every recovery point of a machine at the target site."""
    points: list[RecoveryPoint] = await workflow.execute_activity(
        names.RECOVERY_POINTS, PointsInput(source=site_ref(runbook, source), target=site_ref(runbook, target),
                                           machine=machine_refs(runbook, [machine])[0]),
        result_type=list[RecoveryPoint], summary=f"recovery points of {machine}", task_queue=site_queue(target),
        **PROVIDER,
    )
    return points


def app_points(points: dict[str, list[RecoveryPoint]], at_or_before: datetime | None,
               site: str) -> dict[str, RecoveryPoint]:
    """The point each machine of an app launches from: one moment for the whole app (standby.moment)."""
    try:
        return consistent(points, at_or_before)
    except NoConsistentPoint as error:
        raise ApplicationError(f"{error} [site={site}]", type="NoRecoveryPoint", non_retryable=True) from None


async def launch(inp: LaunchInput) -> Target:
    """Launch one machine's target (idempotent on the operation key)."""
    point = f" from {inp.point.time.strftime('%Y-%m-%dT%H:%M:%SZ')}" if inp.point else ""
    result: Target = await workflow.execute_activity(
        names.LAUNCH_TARGET, inp, result_type=Target,
        summary=f"launch {inp.app.name}/{inp.machine.name} on {inp.site.name}{point}",
        task_queue=site_queue(inp.site.name), **LAUNCH,
    )
    return result


async def launch_batch(inp: LaunchBatchInput) -> LaunchProgress:
    """Launch every machine of a batch of apps, each app from one moment (idempotent on the operation key)."""
    machines = sum(len(app.machines) for app in inp.apps)
    apps = ", ".join(app.name for app in inp.apps[:5]) + (f" and {len(inp.apps) - 5} more" if len(inp.apps) > 5 else "")
    result: LaunchProgress = await workflow.execute_activity(
        names.LAUNCH_TARGETS, inp, result_type=LaunchProgress,
        summary=f"launch {machines} machines of {apps} on {inp.site.name}", task_queue=site_queue(inp.site.name),
        **LAUNCH,
    )
    return result


async def stop_batch(runbook: Runbook, site: str, apps: list[str], deadline: timedelta,
                     in_order: bool = False, index: dict[str, int] | None = None) -> StopProgress:
    """Stop the machines of a batch of apps at a site (`in_order`: one after the other), retried until `deadline`
    (then the caller fences); `index`: the runbook's machine_index, worked out once by a caller that stops many
    batches."""
    index = index or machine_index(runbook)
    inp = StopBatchInput(site=site_ref(runbook, site), apps=[app_ref(runbook, a, index) for a in apps],
                         in_order=in_order)
    result: StopProgress = await workflow.execute_activity(
        names.STOP_APPS, inp, result_type=StopProgress, summary=f"stop {len(apps)} apps on {site}",
        task_queue=site_queue(site), retry_policy=policies.PROVIDER, schedule_to_close_timeout=deadline,
        start_to_close_timeout=min(deadline, policies.PROVIDER_TIMEOUT), heartbeat_timeout=policies.PROVIDER_HEARTBEAT,
    )
    return result


async def stop_waves(runbook: Runbook, site: str, waves: list[StopApps], deadline: timedelta) -> WavesProgress:
    """Stop a site's waves one after the other in one activity, each within `deadline` of its start.

    A site worker that does not take the activity within one deadline is gone: the caller fences, after one deadline
    and not one per wave. An abort waits for the activity's answer (what it stopped), which a cancelled activity's
    own report would not carry.
    """
    index = machine_index(runbook)
    inp = StopWavesInput(site=site_ref(runbook, site), deadline=deadline, named_when_stopped=True, waves=[
        StopWaveInput(label=wave.label(), apps=[app_ref(runbook, a, index) for a in wave.apps]) for wave in waves])
    # Each wave ends by its deadline inside the activity; this bounds an attempt whose worker hangs.
    whole = deadline * (len(waves) + 1) + policies.PROVIDER_TIMEOUT
    result: WavesProgress = await workflow.execute_activity(
        names.STOP_WAVES, inp, result_type=WavesProgress, task_queue=site_queue(site),
        summary=f"stop {sum(len(w.apps) for w in waves)} apps on {site} in {len(waves)} waves",
        retry_policy=policies.PROVIDER, schedule_to_start_timeout=deadline, start_to_close_timeout=whole,
        heartbeat_timeout=policies.PROVIDER_HEARTBEAT,
        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    )
    return result


async def start_warm(inp: LaunchBatchInput) -> LaunchProgress:
    """Start a batch of apps warm at a site before the source stops (idempotent on the operation key)."""
    result: LaunchProgress = await workflow.execute_activity(
        names.START_WARM, inp, result_type=LaunchProgress, task_queue=site_queue(inp.site.name),
        summary=f"start {', '.join(app.name for app in inp.apps[:5])} warm on {inp.site.name}", **LAUNCH)
    return result


async def cut_over(inp: CutOverInput) -> CutOverProgress:
    """Promote, check and move warm apps at a site, one after the other (`inp.move` False: promote only)."""
    what = "cut over" if inp.move else "promote"
    result: CutOverProgress = await workflow.execute_activity(
        names.CUT_OVER, inp, result_type=CutOverProgress, task_queue=site_queue(inp.site.name),
        summary=f"{what} {', '.join(app.name for app in inp.apps[:5])} on {inp.site.name}", **LAUNCH)
    return result


async def stop_app(runbook: Runbook, site: str, app: str, deadline: timedelta) -> StopResult:
    """Stop an app's machines at a site, retried until `deadline`; past it the caller fences what still runs."""
    result: StopResult = await workflow.execute_activity(
        names.STOP_APP, AppInput(site=site_ref(runbook, site), app=app_ref(runbook, app)), result_type=StopResult,
        summary=f"stop {app} on {site}", task_queue=site_queue(site), retry_policy=policies.PROVIDER,
        schedule_to_close_timeout=deadline, start_to_close_timeout=min(deadline, policies.PROVIDER_TIMEOUT),
        heartbeat_timeout=policies.PROVIDER_HEARTBEAT,
    )
    return result


async def start_app(runbook: Runbook, site: str, app: str, endpoints: dict[str, int], epoch: int) -> list[Target]:
    """Start an app's machines at a site from the site's own data."""
    inp = AppInput(site=site_ref(runbook, site), app=app_ref(runbook, app), endpoints=endpoints, epoch=epoch)
    result: list[Target] = await workflow.execute_activity(names.START_APP, inp, result_type=list[Target],
                                           summary=f"start {app} on {site}", task_queue=site_queue(site), **LAUNCH)
    return result


async def move_identity(runbook: Runbook, app: str, site: str, targets: list[Target], epoch: int) -> str:
    """Point an app's network identity at a site, under the operation's fencing epoch."""
    inp = IdentityInput(runbook=runbook.runbook, app=app_ref(runbook, app), site=site_ref(runbook, site),
                        targets=targets, epoch=epoch,
                        peers=[site_ref(runbook, other) for other in runbook.sites if other != site])
    result: str = await workflow.execute_activity(names.MOVE_IDENTITY, inp, result_type=str,
                                           summary=f"move identity of {app} to {site}", task_queue=site_queue(site),
                                           **PROVIDER)
    return result


async def terminate(runbook: Runbook, site: str, summary: str, key: str | None = None,
                    prefix: str | None = None, recovery: bool = False, apps: list[str] | None = None) -> list[str]:
    """Remove targets launched under a key, or under every key with a prefix (`recovery`: recovery targets too;
    `apps`: only theirs)."""
    machines = None if apps is None else machine_refs(runbook, [m for a in apps for m in runbook.apps[a].machines])
    inp = TerminateInput(site=site_ref(runbook, site), key=key, prefix=prefix, recovery=recovery, apps=apps,
                         machines=machines)
    result: list[str] = await workflow.execute_activity(names.TERMINATE_TARGETS, inp, result_type=list[str],
                                                        summary=summary,
                                           task_queue=site_queue(site), **PROVIDER)
    return result


def replication_input(runbook: Runbook, source: str, target: str, apps: list[str], seconds: float = 5,
                      supervise: bool = False) -> ReplicationInput:
    """Replication of the machines of some apps from source into target; `supervise` adds the apps themselves
    (protection looks after their endpoints), which a status check or a drain does not need."""
    machines = [m for a in apps for m in runbook.apps[a].machines]
    index = machine_index(runbook)
    return ReplicationInput(
        source=site_ref(runbook, source), target=site_ref(runbook, target),
        machines=machine_refs(runbook, machines, index), retention=runbook.protection.recovery_points,
        seconds=seconds, apps=[app_ref(runbook, a, index) for a in apps] if supervise else [],
    )


async def replication_status(runbook: Runbook, source: str, target: str, apps: list[str],
                             summary: str) -> list[MachineReplication]:
    """Replication state of the machines of some apps."""
    result: list[MachineReplication] = await workflow.execute_activity(
        names.REPLICATION_STATUS, replication_input(runbook, source, target, apps),
        result_type=list[MachineReplication], summary=summary, task_queue=site_queue(target), **PROVIDER,
    )
    return result


async def drain(runbook: Runbook, source: str, target: str, apps: list[str], summary: str) -> list[MachineReplication]:
    """One replication pass after the source stopped: the target gets every acknowledged write. The states of the
    machines left behind (not continuous) come back; histories from before `behind_only` hold every machine's."""
    inp = replication_input(runbook, source, target, apps, seconds=0)
    inp.behind_only = True
    result: list[MachineReplication] = await workflow.execute_activity(names.REPLICATE, inp,
                                                                       result_type=list[MachineReplication],
                                           summary=summary, task_queue=site_queue(target), **PROVIDER)
    return result


async def set_direction(runbook: Runbook, source: str, target: str, running: bool, apps: list[str],
                        summary: str) -> str | None:
    """Replicate the machines of `apps` source -> target from now on (or pause that replication); what the target
    stopped to make way (a process Standby did not start), if anything."""
    machines = machine_refs(runbook, [m for a in apps for m in runbook.apps[a].machines])
    inp = DirectionInput(source=site_ref(runbook, source), target=site_ref(runbook, target), machines=machines,
                         running=running)
    # None (nothing stopped, or a provider that never stops anything here) travels as a null payload.
    done: str | None = await workflow.execute_activity(names.SET_DIRECTION, inp, result_type=str, summary=summary,
                                                       task_queue=site_queue(target), **PROVIDER)
    return done


async def drain_then_set_direction(runbook: Runbook, source: str, target: str, apps: list[str], running: bool,
                                   direction_apps: list[str], summary: str) -> Drained:
    """`drain`, then `set_direction`, in one activity at the target: the states of the machines the drain left
    behind, and what the target stopped to make way, if anything."""
    drain = replication_input(runbook, source, target, apps, seconds=0)
    drain.behind_only = True
    inp = DrainThenDirectionInput(drain=drain, running=running)
    if direction_apps != apps:
        machines = machine_refs(runbook, [m for a in direction_apps for m in runbook.apps[a].machines])
        inp.direction = DirectionInput(source=drain.source, target=drain.target, machines=machines, running=running)
    result: Drained = await workflow.execute_activity(names.DRAIN_THEN_SET_DIRECTION, inp, result_type=Drained,
                                                      summary=summary, task_queue=site_queue(target), **PROVIDER)
    return result


def not_continuous(states: list[MachineReplication]) -> list[str]:
    """Why each machine is not in continuous data protection."""
    return [f"{s.machine}: {s.phase}" + (f" ({s.detail})" if s.detail else "") for s in states
            if s.phase != "continuous"]
