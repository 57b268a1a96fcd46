"""The providers each step of a plan uses, for a runbook with mixed sites: the lines `standby plan` adds under it."""

from standby.holders import machine_label
from standby.plan import Plan
from standby.plan_steps import (
    CheckReplication,
    Drain,
    FailbackClient,
    RecoverGroup,
    RemoveTargets,
    SetDirection,
    Step,
    StopApps,
    StopWaves,
    WaitContinuous,
)
from standby.runbook import MixedSite, Runbook


def lines(step: Step, plan: Plan, runbook: Runbook) -> list[str]:
    """`by cloud (aws) from vcenter (vsphere): orders-db` and the like; nothing for a step that touches no site."""
    if isinstance(step, StopApps):
        return [_by(runbook, step.site, _machines(runbook, step.apps))]
    if isinstance(step, StopWaves):
        return [_by(runbook, step.site, _machines(runbook, step.apps()))]
    if isinstance(step, (CheckReplication, Drain, SetDirection, WaitContinuous)):
        apps = plan.apps if isinstance(step, CheckReplication) else step.apps
        return [_replication(runbook, step.source, step.target, _machines(runbook, apps))]
    if isinstance(step, FailbackClient):
        return [_by(runbook, step.dr, step.machines)]
    if isinstance(step, RemoveTargets):
        site = runbook.sites[step.site]
        kinds = ([f"{n} ({m.provider})" for n, m in site.providers.items()] if isinstance(site, MixedSite)
                 else [site.provider])
        return ["at every provider: " + ", ".join(kinds)]
    return []


def launch_label(runbook: Runbook, step: RecoverGroup, machines: list[str]) -> str:
    """` by cloud (aws)`: who launches an app's machines at the step's site (one provider holds an app there)."""
    return f" by {machine_label(runbook, step.to_site, machines[0])}"


def _machines(runbook: Runbook, apps: list[str]) -> list[str]:
    return [m for a in apps for m in runbook.apps[a].machines]


def _by(runbook: Runbook, site: str, machines: list[str]) -> str:
    held: dict[str, list[str]] = {}
    for machine in machines:
        held.setdefault(machine_label(runbook, site, machine), []).append(machine)
    return "by " + "; ".join(f"{who}: {', '.join(names)}" for who, names in held.items())


def _replication(runbook: Runbook, source: str, target: str, machines: list[str]) -> str:
    held: dict[str, list[str]] = {}
    for machine in machines:
        pair = f"{machine_label(runbook, target, machine)} from {machine_label(runbook, source, machine)}"
        held.setdefault(pair, []).append(machine)
    return "by " + "; ".join(f"{pair}: {', '.join(names)}" for pair, names in held.items())
