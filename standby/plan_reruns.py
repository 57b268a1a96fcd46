"""What a rerun of an interrupted operation plans beyond the operation itself: it removes what the interrupted run
left of the apps down, and keeps the apps that run already recovered at this run's target."""

from collections.abc import Mapping

from standby.contracts.sites import Mode
from standby.plan_steps import KeepServing, RemoveTargets, Step
from standby.runbook import Operation, Runbook

# The providers whose removal of targets keeps to the apps it names (a mixed site: each of its providers').
REMOVES_BY_APP = frozenset({"local", "aws", "vsphere", "mixed"})
# The operations that recover apps at another site: a drill launches test targets beside the serving apps, a return
# launches nothing.
RECOVERING = frozenset({"failover", "failback", "switchover"})


def clearing_at(clear_interrupted: bool, clear_anywhere: bool) -> frozenset[str]:
    """The providers at whose sites a rerun removes what the interrupted run left of the apps down."""
    if not clear_interrupted:
        return frozenset()
    return REMOVES_BY_APP if clear_anywhere else frozenset({"local"})


def clearing(runbook: Runbook, site: str, mode: Mode, down: list[str], clear_at: frozenset[str]) -> list[Step]:
    """An aborted run may have launched an app it never recovered (it serves nowhere): its target holds the
    app's data folder at a local site, where a new launch refuses a folder in use; on AWS a new launch would
    start a second recovery instance of the machine; on vSphere the replica runs, which a launch refuses to
    revert. Every provider's removal keeps to the apps named (at a mixed site, each of its providers')."""
    if mode != "recovery" or not down or runbook.sites[site].provider not in clear_at:
        return []
    return [RemoveTargets(site=site, scope="interrupted", apps=down)]


def kept(operation: Operation, selected: list[str], serving: Mapping[str, str], target: str) -> list[str]:
    """The selected apps an interrupted run of the operation recovered at its target (they serve there): a second
    launch would start a second AWS recovery instance, be refused a local data folder in use or a running vSphere
    replica, and at best take the app down while it serves."""
    if operation not in RECOVERING or not serving:
        return []
    return [app for app in selected if serving.get(app) == target]


def keeping(site: str, mode: Mode, apps: list[str]) -> list[Step]:
    """The step that names the kept apps, on the plan and the timeline, where the recovery would have started."""
    return [KeepServing(site=site, apps=apps)] if mode == "recovery" and apps else []
