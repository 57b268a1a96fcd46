"""The runbook's owner: one long-running workflow per runbook (`standby/<runbook>`) that holds its truth.

Operators reach it through Update-with-Start: `request` starts an operation as a child once the state
machine allows it, so the server, not a client, decides that a runbook runs one operation at a time;
`protect` starts (or stops) protection, which the owner runs itself: it brings the apps up at their
site, then replicates every app in its own direction round after round. Operations report each change
back by the `report` signal, so an abort or a failure leaves every app's true state here. The owner
continues as new, when idle, to keep its history bounded.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, is_cancelled_exception
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from standby import lifecycle
    from standby.contracts import attributes, names
    from standby.contracts.gates import GateRecord
    from standby.contracts.monitor import MonitorCommand
    from standby.contracts.operations import OperationInput, OperationResult
    from standby.contracts.protect import OwnerStatus
    from standby.contracts.sites import MachineReplication, public_ports
    from standby.contracts.state import (
        OWNER_EVENTS,
        AppChange,
        LegacyState,
        OperationRequest,
        OwnerInput,
        ProtectRequest,
        RunbookTruth,
        RunningOperation,
        StateChange,
        owner_task_timeout,
    )
    from standby.plan import PlanError, select
    from standby.runbook import Runbook
    from workflows import actions, gates, policies
    from workflows.monitor import AppMonitor
    from workflows.operations import OPERATIONS

# One replication round: long enough to keep the history small, short enough for a fresh status.
ROUND = timedelta(seconds=5)
# Rounds before continuing as new (when idle), bounding the history (about 10 events a round).
ROUNDS_PER_RUN = 200
# Operations that change who serves an app: each takes a new fencing epoch.
MOVES = ("failover", "failback", "switchover")


@workflow.defn(name="Runbook")
class RunbookWorkflow:
    """Owns one runbook's truth; starts its operations one at a time; protects it."""

    @workflow.init
    def __init__(self, inp: OwnerInput) -> None:
        self._runbook = inp.runbook
        self._truth = inp.truth or lifecycle.initial(inp.runbook)
        self._machines: list[MachineReplication] = []
        self._rounds = inp.rounds
        self._updated: datetime | None = None
        self._bring_up: list[str] = []
        self._watching: set[asyncio.Task[None]] = set()
        self._gatekeeper = gates.Gatekeeper(inp.nonces)
        # The protect monitor (workflows/monitor.py); it acts only through `request`, like an operator.
        self._monitor = AppMonitor(inp.monitor, lambda: self._runbook, lambda: self._truth,
                                   self._monitor_request)
        self._monitoring: asyncio.Task[None] | None = None
        self._short_runs = False

    @workflow.query
    def status(self) -> OwnerStatus:
        """The truth, every machine's replication, and how many rounds protection ran."""
        return OwnerStatus(truth=self._truth, machines=self._machines, rounds=self._rounds, updated=self._updated,
                           monitor=self._monitor.state if self._monitoring else None)

    @workflow.query
    def runbook(self) -> Runbook:
        """The runbook as the owner holds it: the version last protected or operated on."""
        return self._runbook

    @workflow.signal
    def report(self, change: StateChange) -> None:
        """An operation's report of what it changed."""
        self._truth = lifecycle.applied(self._truth, change)

    @workflow.update
    async def request(self, request: OperationRequest) -> str:
        """Start an operation the state machine allows, once the worker verified who asks; its workflow ID."""
        return await self._start(request, lambda ident: gates.admit(self._gatekeeper, request, ident, self._runbook))

    async def _monitor_request(self, request: OperationRequest) -> str:
        """An operation the protect monitor decided on: the runbook's pairs are its authority, on the record."""
        async def admitted(ident: str) -> list[GateRecord]:
            return gates.by_monitor(request)

        return await self._start(request, admitted)

    async def _start(self, request: OperationRequest,
                     admit: Callable[[str], Awaitable[list[GateRecord]]]) -> str:
        _, apps, active = self._admit(request)
        ident = f"{workflow.info().workflow_id}/{request.operation}"
        # Claimed before the first await: a second request, also one arriving while the worker verifies this one,
        # finds the runbook busy.
        self._truth = self._truth.model_copy(update={"operation": RunningOperation(
            operation=request.operation, workflow_id=ident, requested_by=request.requested_by,
            started=workflow.now(), apps=apps)})
        records = await admit(ident)
        if not records[-1].allowed:
            self._truth = lifecycle.refused(self._truth, request.operation, records[-1])
            raise gates.refusal(records[-1])
        inp = self._admitted(request, active, records)
        try:
            handle = await workflow.start_child_workflow(
                OPERATIONS[request.operation].run, inp, id=ident, parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                static_summary=f"{request.operation} of {request.runbook.runbook} by {inp.requested_by}",
                search_attributes=_attributes(request),
            )
        except BaseException:
            self._truth = self._truth.model_copy(update={"operation": None})
            raise
        task = asyncio.create_task(self._watch(handle, self._truth.operation))
        self._watching.add(task)
        return ident

    def _admitted(self, request: OperationRequest, active: str, records: list[GateRecord]) -> OperationInput:
        """Take the request's runbook and a new epoch for a move; the operation's input, its requester proven."""
        truth, requester = lifecycle.synced(self._truth, request.runbook), records[0].by
        assert truth.operation is not None
        running = truth.operation.model_copy(update={"requested_by": requester, "gates": records})
        epoch = truth.epoch + 1 if request.operation in MOVES else truth.epoch
        self._runbook = request.runbook
        self._truth = truth.model_copy(update={"epoch": epoch, "operation": running})
        evidence = self._monitor.evidence(running.apps, requester) if request.operation == "failover" else []
        if evidence and not workflow.patched("failover-evidence"):
            evidence = []  # histories of failovers started before the input carried it
        return OperationInput(runbook=request.runbook, only=running.apps, point=request.point,
                              force=request.force, yes=request.yes, requested_by=requester,
                              keep_for=request.keep_for, owner=workflow.info().workflow_id, active=active,
                              epoch=epoch, last_drill=truth.last_drill, gates=records,
                              lost=self._monitor.lost_sites(), evidence=evidence,
                              down=[app for app in running.apps if truth.apps[app].serving is None],
                              serving=lifecycle.left_serving(truth, request.operation, running.apps))

    @request.validator
    def _request_allowed(self, request: OperationRequest) -> None:
        self._admit(request)

    def _admit(self, request: OperationRequest) -> tuple[RunbookTruth, list[str], str]:
        """The truth for this runbook, the apps asked for and the site they start from; refused with the reason."""
        if request.runbook.runbook != self._runbook.runbook:
            raise ApplicationError(f"this owner holds {self._runbook.runbook}, not {request.runbook.runbook}",
                                   type="Refused", non_retryable=True)
        truth = lifecycle.synced(self._truth, request.runbook)
        try:
            apps = select(request.runbook, request.only or None)
            if not request.only:
                apps = lifecycle.remaining(truth, request.operation, apps)
            return truth, apps, lifecycle.check(truth, request.operation, apps)
        except (lifecycle.Refused, PlanError) as error:
            raise ApplicationError(str(error), type="Refused", non_retryable=True) from None

    async def _watch(self, handle: workflow.ChildWorkflowHandle[Any, OperationResult],
                     running: RunningOperation | None) -> None:
        """Wait for the operation to end, then free the runbook and record how it ended."""
        try:
            result: OperationResult = await handle
            ended = result.state
        except ChildWorkflowError as error:
            ended = "cancelled" if is_cancelled_exception(error) else f"failed: {_cause(error)}"
        # Usually the operation said so itself before it ended; this covers one that was terminated. Only while the
        # runbook still runs this one: its own report may have freed the runbook already, and the next operation
        # admitted since, under the same workflow ID when it is of the same kind, must stay the running one.
        if self._truth.operation == running:
            self.report(StateChange(workflow_id=handle.id, finished=ended))
        task = asyncio.current_task()
        if task is not None:
            self._watching.discard(task)

    @workflow.update
    async def protect(self, request: ProtectRequest) -> str:
        """Protect the runbook (bringing unprotected apps up at their site first), or stop protecting it."""
        if request.stop:
            self._truth = self._truth.model_copy(update={"protecting": False})
            return f"protection of {self._runbook.runbook} stops after its current round"
        pinned = gates.pinned(self._runbook, request.runbook)
        if pinned is not None:
            raise ApplicationError(pinned, type="Refused", non_retryable=True)
        self._runbook = request.runbook
        self._truth = lifecycle.synced(self._truth, request.runbook).model_copy(update={"protecting": True})
        self._bring_up = [a for a, s in self._truth.apps.items() if s.phase == "unprotected"]
        return f"protecting {self._runbook.runbook}"

    @workflow.update
    async def monitor(self, command: MonitorCommand) -> str:
        """Pause the protect monitor (maintenance mode: it acts on nothing) or resume it, once the worker verified
        who asks."""
        return self._monitor.command(command, await gates.monitor_gate(self._gatekeeper, self._runbook, command))

    @monitor.validator
    def _monitor_running(self, command: MonitorCommand) -> None:
        if self._monitoring is None:
            raise ApplicationError(f"{self._runbook.runbook} has no protect monitor running; start it with "
                                   "`standby protect`", type="Refused", non_retryable=True)

    @workflow.run
    async def run(self, inp: OwnerInput) -> None:
        """Protect while asked to; continue as new when idle and the history has grown."""
        workflow.upsert_search_attributes([attributes.RUNBOOK.value_set(inp.runbook.runbook),
                                           attributes.OPERATION.value_set("owner"),
                                           attributes.SITES.value_set(sorted(inp.runbook.sites))])
        if inp.truth is None:
            await self._import_legacy_state()
        if workflow.patched("monitor"):
            self._monitoring = asyncio.create_task(self._monitor.run())
        # Runs that began before it kept going up to the server's suggestion (thousands of events) on 10 s tasks.
        self._short_runs = workflow.patched("owner-short-runs")
        while True:
            # No timeout: an idle owner sleeps until an update, a signal or a child's end wakes it, and a timeout
            # would end the workflow (wait_condition raises TimeoutError) after ROUND of idleness.
            await workflow.wait_condition(lambda: self._truth.protecting or self._time_to_renew())
            if self._time_to_renew():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._truth.operation is None:
                    workflow.continue_as_new(OwnerInput(runbook=self._runbook, truth=self._truth,
                                                        nonces=self._gatekeeper.nonces,
                                                        monitor=self._monitor.state),
                                             task_timeout=owner_task_timeout(len(self._runbook.machines))
                                             if self._short_runs else None)
            if not self._truth.protecting:
                continue
            if self._bring_up and not await self._brought_up():
                continue
            await self._round()

    async def _import_legacy_state(self) -> None:
        """Once, at the first run: the state file an earlier version kept, if a worker still has one."""
        legacy = await workflow.execute_activity(
            names.IMPORT_LEGACY_STATE, self._runbook.runbook, result_type=LegacyState,
            summary="import the state file of an earlier version, if any", start_to_close_timeout=timedelta(seconds=30),
        )
        untouched = self._truth.operation is None and all(s.phase == "unprotected" for s in self._truth.apps.values())
        if legacy is not None and untouched:
            self._truth = lifecycle.imported(self._runbook, legacy)

    def _time_to_renew(self) -> bool:
        long = self._short_runs and workflow.info().get_current_history_length() >= OWNER_EVENTS
        return self._truth.operation is None and not self._watching and not self._monitor.busy() and (
            self._rounds >= ROUNDS_PER_RUN or long or workflow.info().is_continue_as_new_suggested())

    async def _brought_up(self) -> bool:
        """Bring the unprotected apps up; when that fails, protection stops and says why, the owner goes on."""
        try:
            await self._start_apps()
            return True
        except ActivityError as error:
            reason = f"protection stopped: bringing the apps up failed: {_cause(error)}"
            self._bring_up = []
            self._truth = self._truth.model_copy(update={
                "protecting": False, "history": [*self._truth.history[-19:], reason]})
            return False

    async def _start_apps(self) -> None:
        """Start each unprotected app at its source in group order and point its identity there."""
        runbook, apps = self._runbook, set(self._bring_up)
        for group in runbook.groups:
            members = [a for a in group.apps if a in apps]
            sites = [self._truth.apps[a].source for a in members]
            started = await asyncio.gather(*(actions.start_app(runbook, site, app, public_ports(runbook),
                                                               self._truth.epoch)
                                             for app, site in zip(members, sites, strict=True)))
            for app, site, targets in zip(members, sites, started, strict=True):
                if runbook.apps[app].endpoint:
                    await actions.move_identity(runbook, app, site, targets, self._truth.epoch)
            self.report(StateChange(workflow_id=workflow.info().workflow_id, apps=[
                AppChange(apps=[app], phase="protected", serving=site, replicating=True)
                for app, site in zip(members, sites, strict=True)]))
        self._bring_up = []

    async def _round(self) -> None:
        """One replication round per direction, in parallel: each on the worker of the site it pulls into."""
        directions: dict[tuple[str, str, bool], list[str]] = {}
        for app, state in self._truth.apps.items():
            if state.phase == "unprotected":
                continue
            directions.setdefault((state.source, state.target, state.replicating), []).append(app)
        results = await asyncio.gather(*(self._replicate(source, target, running, apps)
                                         for (source, target, running), apps in directions.items()))
        self._machines = [machine for result in results for machine in result]
        self._rounds += 1
        self._updated = workflow.now()

    async def _replicate(self, source: str, target: str, running: bool, apps: list[str]) -> list[MachineReplication]:
        inp = actions.replication_input(self._runbook, source, target, apps, seconds=ROUND.total_seconds(),
                                        supervise=True)
        inp.copy_data = running
        try:
            replicated: list[MachineReplication] = await workflow.execute_activity(
                names.REPLICATE, inp, result_type=list[MachineReplication],
                summary=f"replicate {source} -> {target}" + ("" if running else " (paused)"),
                task_queue=actions.site_queue(target), retry_policy=policies.PROVIDER,
                start_to_close_timeout=ROUND * 6, heartbeat_timeout=policies.PROVIDER_HEARTBEAT,
            )
            return replicated
        except Exception as error:  # one site's failed round must not end the runbook's owner
            if is_cancelled_exception(error):
                raise
            reason = _cause(error)
            return [MachineReplication(machine=m, phase="stalled", detail=reason)
                    for a in apps for m in self._runbook.apps[a].machines]


def _attributes(request: OperationRequest) -> TypedSearchAttributes:
    mode = "test" if request.operation == "drill" else "recovery"
    return TypedSearchAttributes([
        SearchAttributePair(attributes.RUNBOOK, request.runbook.runbook),
        SearchAttributePair(attributes.OPERATION, request.operation), SearchAttributePair(attributes.MODE, mode),
        SearchAttributePair(attributes.STATE, "starting"),
    ])


def _cause(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return error.message if isinstance(error, ApplicationError) else str(error) or type(error).__name__

