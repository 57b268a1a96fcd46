"""The app state machine: which operation may start from which app state, and what each change does.

    unprotected --protect--> protected (A -> B) --failover--> failed over (at B)
    failed over --failback: prepare--> reverse protected (B -> A) --failback--> failed back (at A)
    failed back --return--> protected (A -> B)          protected --switchover--> protected (B -> A)
    an aborted or failed operation leaves its apps `interrupted`: re-running that operation finishes it.

Pure functions of the owner's truth, so the owner's update validator and the CLI's messages agree.
"""

from standby.contracts.gates import GateRecord, summary
from standby.contracts.state import AppChange, AppPhase, AppState, DrillRecord, LegacyState, RunbookTruth, StateChange
from standby.runbook import Operation, Runbook

# The phases each operation starts from (besides `interrupted` by the same operation, which it finishes).
STARTS_FROM: dict[Operation, tuple[str, ...]] = {
    "drill": ("protected", "reverse_protected"),
    "failover": ("protected",),
    "switchover": ("protected",),
    "failback": ("failed_over", "reverse_protected"),
    "return": ("failed_back",),
}
_WANTED = {"drill": "protected", "failover": "protected", "switchover": "protected",
           "failback": "failed over", "return": "failed back"}
# The command that fits an app's phase, for a refusal's "did you mean".
_FITS = {"unprotected": "protect", "protected": "failover", "failed_over": "failback",
         "reverse_protected": "failback", "failed_back": "return"}


class Refused(ValueError):
    """An operation the state machine refuses; the message names each app, its state and the command that fits."""


def initial(runbook: Runbook) -> RunbookTruth:
    """A runbook never operated on: every app unprotected, to be protected from its source to its target."""
    truth = RunbookTruth(runbook=runbook.runbook, apps={})
    return synced(truth, runbook)


def protected(runbook: Runbook) -> RunbookTruth:
    """A runbook whose apps all serve at its source and replicate to its target (brought up outside Standby)."""
    source = runbook.protection.source
    apps = {name: state.model_copy(update={"phase": "protected", "serving": source, "replicating": True})
            for name, state in initial(runbook).apps.items()}
    return RunbookTruth(runbook=runbook.runbook, apps=apps)


def synced(truth: RunbookTruth, runbook: Runbook) -> RunbookTruth:
    """The truth with the runbook's apps: new apps start unprotected, removed apps are dropped."""
    source, target = runbook.protection.source, runbook.protection.target
    apps = {name: truth.apps.get(name) or AppState(source=source, target=target, home=source)
            for name in runbook.apps}
    return truth.model_copy(update={"apps": apps})


def describe(state: AppState) -> str:
    """`protected primary -> dr`, `failed over to dr`, `interrupted by failover, down`."""
    if state.phase == "interrupted":
        where = f"at {state.serving}" if state.serving else "down"
        return f"interrupted by {state.interrupted_by}, {where}"
    return {
        "unprotected": "not protected",
        "protected": f"protected {state.source} -> {state.target}",
        "failed_over": f"failed over to {state.serving}",
        "reverse_protected": f"reverse protected {state.source} -> {state.target}",
        "failed_back": f"failed back to {state.serving}",
    }[state.phase]


def fitting(state: AppState) -> str:
    """The command that moves an app on from its state."""
    if state.phase == "interrupted":
        return str(state.interrupted_by)
    return _FITS[state.phase]


# Where an operation leaves its apps, for those whose start phases differ from it.
_ENDS = {"failover": "failed_over", "failback": "failed_back", "return": "protected"}


def remaining(truth: RunbookTruth, operation: Operation, apps: list[str]) -> list[str]:
    """The apps an operation asked for without --only acts on: those it has not done yet. After `failover --only
    db`, `failover` moves the rest; after an abort, running the operation again finishes it."""
    if operation in _ENDS:
        left = [a for a in apps if truth.apps[a].phase != _ENDS[operation]]
        return left or apps
    interrupted = [a for a in apps if truth.apps[a].interrupted_by == operation]
    return interrupted or apps


def left_serving(truth: RunbookTruth, operation: Operation, apps: list[str]) -> dict[str, str]:
    """Where each of `apps` that an interrupted run of `operation` left serving serves: a rerun keeps those it
    recovered at its target instead of launching them a second time."""
    return {app: state.serving for app in apps
            if (state := truth.apps[app]).interrupted_by == operation and state.serving is not None}


def refusals(truth: RunbookTruth, operation: Operation, apps: list[str]) -> list[str]:
    """Why `operation` may not start for each of `apps`; empty when it may."""
    out = []
    for name in apps:
        state = truth.apps[name]
        if state.phase in STARTS_FROM[operation] or state.interrupted_by == operation:
            continue
        out.append(f"{name} is {describe(state)}, not {_WANTED[operation]}; did you mean `standby {fitting(state)}`?")
    return out


def active_site(truth: RunbookTruth, operation: Operation, apps: list[str]) -> str:
    """The site the operation starts from, the same for every app, or Refused."""
    sites = {_from(truth.apps[name], operation) for name in apps}
    if len(sites) != 1:
        raise Refused(f"{operation} of {truth.runbook} refused: the apps start from different sites "
                      f"({', '.join(sorted(sites))}); run them apart with --only")
    return sites.pop()


def _from(state: AppState, operation: Operation) -> str:
    if operation in ("failback",):
        return state.target if state.home == state.source else state.source
    if operation == "return":
        return state.home
    return state.source


def check(truth: RunbookTruth, operation: Operation, apps: list[str]) -> str:
    """The site the operation starts from; Refused (with every reason) when the state machine says no."""
    if truth.operation is not None:
        running = truth.operation
        raise Refused(f"{operation} of {truth.runbook} refused: {running.operation} ({running.workflow_id}) "
                      f"is running; watch it with `standby status {running.workflow_id}` or stop it with "
                      f"`standby abort {running.workflow_id}`")
    reasons = refusals(truth, operation, apps)
    if reasons:
        raise Refused(f"{operation} of {truth.runbook} refused: " + "; ".join(reasons))
    return active_site(truth, operation, apps)


def applied(truth: RunbookTruth, change: StateChange) -> RunbookTruth:
    """The truth after an operation's report."""
    apps = dict(truth.apps)
    for app_change in change.apps:
        # Worked out once per change, not per app: a report names up to every app of the runbook. Apps in one state
        # come out in one state, one copy shared by them all (states are never changed in place).
        fields = _fields(app_change)
        changed: dict[tuple[object, ...], AppState] = {}
        for name in app_change.apps:
            if (state := apps.get(name)) is not None:
                key = tuple(state.__dict__.values())
                apps[name] = changed.get(key) or changed.setdefault(key, state.model_copy(update=fields))
    update: dict[str, object] = {"apps": apps}
    if change.drill is not None:
        update["last_drill"] = change.drill
        if change.drill.passed:
            update["last_passed_drill"] = change.drill
    if change.epoch is not None and change.epoch > truth.epoch:
        update["epoch"] = change.epoch
    running = truth.operation
    if change.finished is not None and running is not None and running.workflow_id == change.workflow_id:
        update["operation"] = None
        who = summary(running.gates) if running.gates else f"by {running.requested_by or 'someone'}"
        update["history"] = _kept(truth, f"{running.started:%Y-%m-%d %H:%M:%S}Z {running.operation} {who}: "
                                         f"{change.finished}")
    return truth.model_copy(update=update)


def refused(truth: RunbookTruth, operation: Operation, record: GateRecord) -> RunbookTruth:
    """The truth after a refused request: nothing runs, and the history says who was refused, when and why."""
    when = f"{record.at:%Y-%m-%d %H:%M:%S}Z " if record.at else ""
    return truth.model_copy(update={"operation": None,
                                    "history": _kept(truth, f"{when}{operation}: {record.describe()}")})


def _kept(truth: RunbookTruth, entry: str) -> list[str]:
    """The history with `entry` last, bounded to the last 20 entries."""
    return [*truth.history[-19:], entry]


def _fields(change: AppChange) -> dict[str, object]:
    """The fields of an app's state that the change sets."""
    fields: dict[str, object] = {key: value for key, value in change.model_dump(exclude={"apps", "down"}).items()
                                 if value is not None}
    if change.down:
        fields["serving"] = None
    if fields.get("phase") not in (None, "interrupted"):
        fields["interrupted_by"] = None
    return fields


def imported(runbook: Runbook, legacy: LegacyState) -> RunbookTruth:
    """The truth of a runbook that an earlier version kept in a state file: every app where the file said."""
    phase: AppPhase
    if legacy.replicating:
        phase = "protected" if legacy.active == legacy.replication_source else "reverse_protected"
    else:
        phase = "failed_back" if legacy.active == runbook.protection.source else "failed_over"
    apps = {name: AppState(phase=phase, serving=legacy.active, source=legacy.replication_source,
                           target=legacy.replication_target, replicating=legacy.replicating,
                           home=runbook.protection.source)
            for name in runbook.apps}
    drill = None
    if legacy.last_drill_time is not None:
        drill = DrillRecord(time=legacy.last_drill_time, passed=bool(legacy.last_drill_passed), apps=list(runbook.apps),
                            workflow_id=legacy.last_drill_id or "")
    return RunbookTruth(runbook=runbook.runbook, apps=apps, epoch=legacy.fencing_token, last_drill=drill,
                        last_passed_drill=drill if drill is not None and drill.passed else None,
                        protecting=legacy.replicating)
