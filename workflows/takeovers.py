"""A pair's takeovers, decided by the owner: at a suspect's takeover time, fail over (automatic) or alert and
wait for an operator (managed); an automatic failover that fails is alerted, never retried for the same loss.

The base of PairMonitor (workflows/pairs.py), which gathers the observations these decisions weigh.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from standby import takeover
    from standby.continuity import Pair
    from standby.contracts.monitor import MonitorState
    from standby.contracts.pairs import FailoverEvidence, PairState, Suspicion
    from standby.contracts.state import OperationRequest, RunbookTruth
    from standby.runbook import Runbook
    from workflows.alerts import Alerts


class PairDecisions:
    """Suspicions settled, takeovers decided, alerts raised once per condition."""

    def __init__(self, state: MonitorState, runbook: Callable[[], Runbook], truth: Callable[[], RunbookTruth],
                 request: Callable[[OperationRequest], Awaitable[str]], alerts: Alerts,
                 event: Callable[[str], None]):
        self.state, self._runbook, self._truth, self._request = state, runbook, truth, request
        self.alerts, self.event = alerts, event
        self._loops: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._deciding: set[str] = set()

    def _spec(self, name: str) -> Pair:
        return self._runbook().pairs[name]

    def evidence(self, apps: list[str], requested_by: str) -> list[FailoverEvidence]:
        """The standing suspicions a failover of `apps` requested now acts on, one per pair, in figures."""
        found = []
        for name, state in sorted(self.state.pairs.items()):
            spec, suspicion = self._runbook().pairs.get(name), state.suspicion
            if spec is None or suspicion is None:
                continue
            taken = [a for a in apps if a in takeover.takeable(self._truth(), spec, suspicion.lost, suspicion.by)]
            if taken:
                found.append(takeover.evidence(name, spec, suspicion, taken, workflow.now(), requested_by))
        return found

    async def _decider(self, name: str) -> None:
        """At the suspect's takeover time: fail over (automatic) or alert and wait for an operator (managed)."""
        while True:
            await workflow.wait_condition(lambda: self._suspicion(name) is not None)
            suspicion = self._suspicion(name)
            assert suspicion is not None
            if await self._due(name, suspicion):
                await self._take_over(name, suspicion)
                await self._until_over(name, suspicion)

    async def _until_over(self, name: str, suspicion: Suspicion) -> None:
        """Wait until the suspicion ends, or until the lost site serves nothing to take over (an operator did)."""
        await workflow.wait_condition(lambda: self._suspicion(name) is not suspicion
                                      or not self._takeable(name, suspicion))
        if self._suspicion(name) is suspicion:
            self._settle(name, f"{suspicion.lost} serves nothing {suspicion.by} could take over any more: taken over")

    def _takeable(self, name: str, suspicion: Suspicion) -> list[str]:
        return takeover.takeable(self._truth(), self._spec(name), suspicion.lost, suspicion.by)

    async def _due(self, name: str, suspicion: Suspicion) -> bool:
        """Whether the suspicion stands at its takeover time, with the monitor resumed and no operation running."""
        def stands() -> bool:
            return self._suspicion(name) is suspicion

        left = suspicion.takeover_at - workflow.now()
        if left > timedelta(0):
            try:
                await workflow.wait_condition(lambda: not stands(), timeout=left)
                return False
            except TimeoutError:
                pass
        await workflow.wait_condition(lambda: not stands() or (not self.state.paused
                                                               and self._truth().operation is None))
        return stands()

    def _suspicion(self, name: str) -> Suspicion | None:
        return self.state.pairs.get(name, PairState()).suspicion

    async def _take_over(self, name: str, suspicion: Suspicion) -> None:
        pair, truth = self._spec(name), self._truth()
        apps = takeover.takeable(truth, pair, suspicion.lost, suspicion.by)
        if not apps:
            self._settle(name, f"no takeover: nothing of {suspicion.lost}'s to take over any more")
            return
        # The loss stands past the lease and grace: confirmed now, whoever then requests the failover.
        suspicion.confirmed = workflow.now()
        if pair.failover == "managed":
            self._alert_once(name, f"managed:{suspicion.lost}", "failover_needed", suspicion.lost,
                             f"{suspicion.evidence}; its lease has run out: fail {', '.join(apps)} over to "
                             f"{suspicion.by} with `standby failover`")
            return
        self._deciding.add(name)
        try:
            ident = await self._request(OperationRequest(operation="failover", runbook=self._runbook(), only=apps,
                                                         yes=True, requested_by="monitor"))
            self._decided(name, f"failover of {', '.join(apps)} to {suspicion.by} started ({ident}): "
                                f"{suspicion.evidence}")
            await workflow.wait_condition(lambda: self._truth().operation is None)
            left = takeover.takeable(self._truth(), pair, suspicion.lost, suspicion.by)
            # Done, or the owner's history line of how it ended (its time, its gates, its failure).
            ended = "failed_over" if not left else (self._truth().history or ["ended"])[-1]
            outcome = f"failover of {', '.join(apps)} to {suspicion.by}: {ended}"
        except ApplicationError as error:
            left, outcome = apps, f"failover of {', '.join(apps)} refused: {error.message}"
        finally:
            self._deciding.discard(name)
        self._settle(name, outcome)
        if left:
            # Not again by itself for this loss: an operator decides (`standby failover --force`, say).
            self._alert_once(name, f"failed:{suspicion.lost}", "failover_failed", suspicion.lost,
                             f"{outcome}; {', '.join(left)} still at {suspicion.lost}: no automatic retry")

    def _settle(self, name: str, outcome: str) -> None:
        """The suspicion ends, so: kept as the pair's last, with when and how."""
        state = self.state.pairs[name]
        if state.suspicion is not None:
            state.last = state.suspicion.model_copy(update={"ended": workflow.now(), "outcome": outcome})
            state.suspicion = None
        self._decided(name, outcome)

    def _decided(self, name: str, text: str) -> None:
        self.state.pairs[name].decision = f"{workflow.now():%H:%M:%S} {text}"
        self.event(f"{name}: {text}")

    def _alert_once(self, name: str, key: str, kind: str, site: str, detail: str) -> None:
        state = self.state.pairs.setdefault(name, PairState())
        if key in state.alerts:
            return
        state.alerts.append(key)
        asyncio.create_task(self.alerts.raise_alert(name, kind, site, f"{name}: {detail}"))

    def _clear(self, name: str, key: str) -> None:
        state = self.state.pairs.get(name)
        if state is not None and key in state.alerts:
            state.alerts.remove(key)
