"""The typed steps of a plan: what `standby plan` prints and what the workflows' interpreter runs.

Each step is plain data with a one-line `label()`; the interpreter names the step so on the timeline,
in the workflow's memo and in every activity it schedules, so a history reads like the printed plan.
"""

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from standby.contracts.sites import Mode
from standby.contracts.state import AppPhase
from standby.durations import format_duration
from standby.runbook import ActionHook, CommandHook, Hook, PromptHook
from standby.runbook_base import empty


class RunHook(BaseModel):
    """A command, prompt or remediation step of the runbook, carrying the hook itself."""

    kind: Literal["hook"] = "hook"
    hook: Hook
    group: str | None = None
    app: str | None = None

    def label(self) -> str:
        """`command (before_group:services): ./warm-cache.sh`."""
        hook = self.hook
        if isinstance(hook, PromptHook):
            return f"prompt ({hook.at}): \"{hook.describe()}\""
        what = "action" if isinstance(hook, ActionHook) else "command"
        return f"{what} ({hook.at}): {hook.describe()}"

    @property
    def command(self) -> CommandHook | None:
        """The hook when it is a command step."""
        return self.hook if isinstance(self.hook, CommandHook) else None


class AppStep(BaseModel):
    """Recover one app: pre-launch hooks, launch, post-launch hooks, health, identity."""

    app: str
    group: str
    machines: list[str]
    depends_on: list[str] = empty(list)
    pre_launch: list[RunHook] = empty(list)
    post_launch: list[RunHook] = empty(list)
    health: list[str] = empty(list)
    endpoint: str | None = None


class Wave(BaseModel):
    """Apps that run in parallel."""

    apps: list[AppStep]


class GroupStage(BaseModel):
    """One priority group: its before hooks, its waves, its after hooks."""

    group: str
    before: list[RunHook] = []
    waves: list[Wave] = []
    after: list[RunHook] = []

    def apps(self) -> list[str]:
        """The group's apps in recovery order."""
        return [app.app for wave in self.waves for app in wave.apps]


class CheckReplication(BaseModel):
    """Refuse, naming each machine, unless every machine replicates in an accepted phase (skipped by --force)."""

    kind: Literal["check_replication"] = "check_replication"
    source: str
    target: str
    accept: list[str]

    def label(self) -> str:
        """`precondition: replication primary -> dr is continuous`."""
        return f"precondition: replication {self.source} -> {self.target} is {' or '.join(self.accept)}"


class CheckTested(BaseModel):
    """Refuse unless a drill passed within `within` (skipped by --force)."""

    kind: Literal["check_tested"] = "check_tested"
    within: timedelta

    def label(self) -> str:
        """`precondition: a passing drill within 7d`."""
        return f"precondition: a passing drill within {format_duration(self.within)}"


class Approval(BaseModel):
    """Wait until an authorised operator approves (skipped by --yes)."""

    kind: Literal["approval"] = "approval"
    who: str

    def label(self) -> str:
        """`approval by an operator`."""
        return f"approval by {self.who}"


class StopApps(BaseModel):
    """Stop some apps of a group at a site, in parallel; a machine that will not stop fails the step."""

    kind: Literal["stop"] = "stop"
    site: str
    group: str
    apps: list[str]
    in_order: bool = Field(False, description="one activity stopping the apps one after the other, in the order "
                           "given (a warm switchover's whole source); False: the apps of one wave, at once")

    def label(self) -> str:
        """`stop api, web on primary (group services)`."""
        names = ", ".join(self.apps) if len(self.apps) <= 10 else f"{len(self.apps)} apps"
        if self.in_order and len(self.apps) > 1:
            return f"stop {names} on {self.site}, in this order (groups {self.group})"
        return f"stop {names} on {self.site} (group {self.group})"


class StopWaves(BaseModel):
    """Stop a site's consecutive waves in one activity: wave after wave in this order (dependents first), each
    wave's apps at once, each within the stop deadline from its start and on the timeline as a step of its own."""

    kind: Literal["stop_waves"] = "stop_waves"
    site: str
    waves: list[StopApps]

    def apps(self) -> list[str]:
        """Every app of the waves, in the order they stop."""
        return [app for wave in self.waves for app in wave.apps]

    def label(self) -> str:
        """`stop web, api, db on primary in 3 waves, dependents first`."""
        count = len(self.waves)
        return f"stop {_names(self.apps())} on {self.site} in {count} wave{'s' if count > 1 else ''}, dependents first"


class Drain(BaseModel):
    """One replication pass after the source stopped, so the target has every acknowledged write."""

    kind: Literal["drain"] = "drain"
    source: str
    target: str
    apps: list[str]
    if_stopped: bool = Field(False, description="skip when the stop steps found nothing running (a dead source)")

    def label(self) -> str:
        """`drain replication primary -> dr`."""
        return f"drain replication {self.source} -> {self.target}" + (" (if the source answered)"
                                                                        if self.if_stopped else "")


class SetDirection(BaseModel):
    """Replicate source -> target from now on, or pause that replication, and record it."""

    kind: Literal["set_direction"] = "set_direction"
    source: str
    target: str
    running: bool
    apps: list[str] = []
    phase: AppPhase = Field("interrupted", description="the apps' phase once replication is set")

    def label(self) -> str:
        """`replicate dr -> primary` or `pause replication primary -> dr`."""
        return f"{'replicate' if self.running else 'pause replication'} {self.source} -> {self.target}"


class WaitContinuous(BaseModel):
    """Wait until every machine of the apps is in continuous data protection."""

    kind: Literal["wait_continuous"] = "wait_continuous"
    source: str
    target: str
    apps: list[str]

    def label(self) -> str:
        """`wait for continuous data protection dr -> primary`."""
        return f"wait for continuous data protection {self.source} -> {self.target}"


class FailbackClient(BaseModel):
    """The Failback Client of each machine outside AWS, in parallel, one child workflow each."""

    kind: Literal["failback_client"] = "failback_client"
    dr: str
    home: str
    machines: list[str]

    def label(self) -> str:
        """`Failback Client: db1, app1`."""
        return f"Failback Client: {', '.join(self.machines)}"


class RecoverGroup(BaseModel):
    """Recover one priority group at `to_site`, as a child workflow that gets this stage as its input."""

    kind: Literal["recover_group"] = "recover_group"
    stage: GroupStage
    from_site: str
    to_site: str
    mode: Mode
    move_identity: bool
    point: datetime | None = None

    def label(self) -> str:
        """`recover group data at dr (db)`."""
        apps = self.stage.apps()
        names = ", ".join(apps) if len(apps) <= 10 else f"{len(apps)} apps"
        return f"recover group {self.stage.group} at {self.to_site} ({names})"


class WarmGroup(BaseModel):
    """Ready a group at `to_site` before the source stops (standby.warm): its before and pre-launch hooks, one
    activity that starts its stateless apps in full and the others (`standby`) as warm processes that open no
    data, then the stateless apps' post-launch hooks and health."""

    kind: Literal["warm_group"] = "warm_group"
    stage: GroupStage
    from_site: str
    to_site: str
    standby: list[str] = Field([], description="apps that wait as warm processes; the others start in full")

    def label(self) -> str:
        """`start group data warm at dr (db)`."""
        return f"start group {self.stage.group} warm at {self.to_site} ({_names(self.stage.apps())})"


class CutOverGroup(BaseModel):
    """Cut a warm group over at `to_site` once the source stopped and drained: in one activity, app after app in
    dependency order, promote each warm process (it opens the drained data), check health, move the identity.
    Apps of `standby` with post-launch hooks are promoted first, in an activity of their own, then their hooks run."""

    kind: Literal["cut_over"] = "cut_over"
    stage: GroupStage
    from_site: str
    to_site: str
    standby: list[str] = []
    point: datetime | None = None

    def label(self) -> str:
        """`cut group data over at dr (db)`."""
        return f"cut group {self.stage.group} over at {self.to_site} ({_names(self.stage.apps())})"


class DropWarm(BaseModel):
    """Stop what a warm switchover started at `site` and did not cut over: after a failure or an abort, nothing
    of it stays on the site, and a new switchover starts afresh."""

    kind: Literal["drop_warm"] = "drop_warm"
    site: str

    def label(self) -> str:
        """`stop what was started warm on dr and not cut over`."""
        return f"stop what was started warm on {self.site} and not cut over"


def _names(apps: list[str]) -> str:
    return ", ".join(apps) if len(apps) <= 10 else f"{len(apps)} apps"


class RecordState(BaseModel):
    """Record where the selected apps now are: their phase, the site serving them, their replication."""

    kind: Literal["record_state"] = "record_state"
    phase: AppPhase
    serving: str
    source: str | None = None
    target: str | None = None
    replicating: bool
    home: str | None = None

    def label(self) -> str:
        """`record state: failed_over at dr, replication paused`."""
        replication = "running" if self.replicating else "paused"
        return f"record state: {self.phase} at {self.serving}, replication {replication}"


class RemoveTargets(BaseModel):
    """Remove targets at a site: earlier drills', this drill's own, what an earlier failover launched there, or what
    an interrupted run of this operation launched for `apps` (they serve nowhere)."""

    kind: Literal["remove_targets"] = "remove_targets"
    site: str
    scope: Literal["previous", "this", "earlier failover", "interrupted"]
    apps: list[str] = []

    def label(self) -> str:
        """`remove previous drill targets on dr`."""
        if self.scope == "previous":
            return f"remove previous drill targets on {self.site}"
        if self.scope == "earlier failover":
            return f"remove the recovery targets of the earlier failover on {self.site}"
        if self.scope == "interrupted":
            return f"remove what an interrupted run left of {_names(self.apps)} on {self.site}"
        return f"clean up drill targets on {self.site}"


class KeepServing(BaseModel):
    """Apps an interrupted run of this operation already recovered at `site`: they serve there, so this run neither
    stops, launches, checks nor moves them again; the end of the plan records them with the rest."""

    kind: Literal["keep_serving"] = "keep_serving"
    site: str
    apps: list[str]

    def label(self) -> str:
        """`keep db serving at dr: the interrupted run recovered it there`."""
        them = "it" if len(self.apps) == 1 else "them"
        return f"keep {_names(self.apps)} serving at {self.site}: the interrupted run recovered {them} there"

    def skips(self) -> str:
        """What this run leaves undone for the kept apps, for the plan and the timeline."""
        return "no stop, launch, hooks, health checks or identity move again; recorded with the other apps at the end"


class RecordDrill(BaseModel):
    """Record the drill's result: it counts for `tested_within`."""

    kind: Literal["record_drill"] = "record_drill"
    passed: bool

    def label(self) -> str:
        """`record the drill as passed`."""
        return f"record the drill as {'passed' if self.passed else 'failed'}"


class KeepTargets(BaseModel):
    """Keep the drill's targets until `standby finish` or `keep_for`."""

    kind: Literal["keep_targets"] = "keep_targets"
    keep_for: timedelta

    def label(self) -> str:
        """`keep drill targets until standby finish or 10m`."""
        return f"keep drill targets until `standby finish` or {format_duration(self.keep_for)}"


Step = Annotated[
    CheckReplication | CheckTested | Approval | RunHook | StopApps | StopWaves | Drain | SetDirection | WaitContinuous
    | FailbackClient | RecoverGroup | RecordState | RemoveTargets | KeepServing | RecordDrill | KeepTargets
    | WarmGroup | CutOverGroup | DropWarm,
    Field(discriminator="kind"),
]
