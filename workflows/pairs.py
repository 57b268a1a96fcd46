"""Heartbeats of the runbook's pairs, inside the owner: each site's agent told its part, what it saw weighed.

For each site of each pair with heartbeat addresses, a loop runs `watch_pair` on that site's queue: it tells
the site's agent its epoch, the apps it serves (their lease), what it must not run, and (if the site is
neither suspected nor cut off) a grant; it returns at news or after one lease. A site that lost a peer
serving apps it could take over, and reached a witness, makes the peer suspected; once the peer's lease has
run out plus the grace, `failover: automatic` fails those apps over through the owner's `request`, and
`managed` alerts and waits for an operator's failover. A site that reached no witness is the one cut off: it
alerts and stays passive. A suspect that reports it reaches witnesses is alive behind a broken link: no
takeover. Every decision and its evidence is an event (status, memo) and its timing is the suspicion's.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from standby import takeover
    from standby.contracts import names
    from standby.contracts.pairs import PairObservation, PairState, PairWatch, Suspicion
    from standby.contracts.sites import app_ref, public_ports, site_ref
    from workflows import actions, policies
    from workflows.takeovers import PairDecisions


class PairMonitor(PairDecisions):
    """The heartbeats, leases and takeovers of a runbook's pairs."""

    def busy(self) -> bool:
        """Whether a takeover is being requested."""
        return bool(self._deciding)

    def held(self, app: str) -> bool:
        """Whether an app is the heartbeats' business now (its site is suspected or stopped it): not the ladder's."""
        for name, pair in self.state.pairs.items():
            spec = self._runbook().pairs.get(name)
            serving = self._truth().apps[app].serving if app in self._truth().apps else None
            if spec is None or app not in spec.apps or serving is None:
                continue
            seen = pair.observations.get(serving)
            if (pair.suspicion is not None and pair.suspicion.lost == serving) or app in pair.down.get(serving, []) \
                    or (seen is not None and takeover.cut_off(seen)):
                return True
        return False

    def stopped_here(self, site: str, app: str) -> None:
        """An app left stopped at a site that lost touch: started again with what its agent stopped, once the site
        is back in touch and nobody took over."""
        for name, spec in self._runbook().pairs.items():
            if app in spec.apps:
                state = self.state.pairs.setdefault(name, PairState())
                state.down[site] = sorted({*state.down.get(site, []), app})

    def lost_sites(self) -> list[str]:
        """Sites whose lease has run out by the owner's reckoning: a failover need not wait to stop them."""
        now = workflow.now()
        return sorted({p.suspicion.lost for p in self.state.pairs.values()
                       if p.suspicion is not None and p.suspicion.takeover_at <= now})

    async def run(self) -> None:
        """A loop per site of every pair that has heartbeat addresses, and a decider per pair; for ever."""
        while True:
            for name, pair in self._runbook().pairs.items():
                for site in pair.heartbeat.listen:
                    if (name, site) not in self._loops:
                        self._loops[(name, site)] = asyncio.create_task(self._site(name, site))
                if (name, "") not in self._loops and pair.heartbeat.listen:
                    self._loops[(name, "")] = asyncio.create_task(self._decider(name))
            await workflow.wait_condition(lambda: self._unstarted())

    def _unstarted(self) -> bool:
        return any((n, s) not in self._loops for n, p in self._runbook().pairs.items() for s in p.heartbeat.listen)

    def _watching(self, name: str) -> bool:
        truth = self._truth()
        return name in self._runbook().pairs and truth.protecting and any(
            truth.apps[a].phase != "unprotected" for a in self._spec(name).apps if a in truth.apps)

    def _part(self, name: str, site: str) -> tuple[object, ...]:
        """What a site's agent is told, but the grant's time: a change restarts its watch at once."""
        truth, pair = self._truth(), self._spec(name)
        return (truth.epoch, tuple(takeover.served_at(truth, pair, site)), tuple(self._stale(name, site)),
                takeover.may_fence(truth, pair, site), self._grantable(name, site))

    def _stale(self, name: str, site: str) -> list[str]:
        truth = self._truth()
        return takeover.served_elsewhere(truth, self._spec(name), site) if truth.operation is None else []

    def _grantable(self, name: str, site: str) -> bool:
        pair = self.state.pairs.get(name, PairState())
        seen = pair.observations.get(site)
        suspected = pair.suspicion is not None and pair.suspicion.lost == site
        return not suspected and not (seen is not None and takeover.cut_off(seen)) and bool(
            takeover.served_at(self._truth(), self._spec(name), site))

    def _input(self, name: str, site: str) -> PairWatch:
        runbook, truth, pair = self._runbook(), self._truth(), self._spec(name)
        beat, state = pair.heartbeat, self.state.pairs.setdefault(name, PairState())
        grant = takeover.grant_for(beat, workflow.now()) if self._grantable(name, site) else None
        if grant is not None:
            state.grants[site] = grant
        return PairWatch(runbook=runbook.runbook, pair=name, site=site_ref(runbook, site), listen=beat.listen[site],
                         peers={s: a for s, a in beat.listen.items() if s != site}, witnesses=list(pair.witnesses),
                         interval_seconds=beat.interval.total_seconds(), missed=beat.missed, epoch=truth.epoch,
                         serving=[app_ref(runbook, a) for a in takeover.served_at(truth, pair, site)],
                         stop=[app_ref(runbook, a) for a in self._stale(name, site)],
                         fence=takeover.may_fence(truth, pair, site), grant_until=grant,
                         window_seconds=takeover.window(beat).total_seconds())

    async def _site(self, name: str, site: str) -> None:
        fencing = False
        while True:
            if not self._watching(name) and fencing:
                # Protection stopped: one last word, so the site's agent no longer stops apps on its own.
                await self._watch(name, site)
            await workflow.wait_condition(lambda: self._watching(name))
            fencing = takeover.may_fence(self._truth(), self._spec(name), site)
            seen = await self._watch(name, site)
            if seen is not None:
                self._observed(name, site, seen)
                await self._restore(name, site, seen)

    async def _watch(self, name: str, site: str) -> PairObservation | None:
        beat, sent = self._spec(name).heartbeat, self._part(name, site)
        window = takeover.window(beat)
        handle = workflow.start_activity(
            names.WATCH_PAIR, self._input(name, site), result_type=PairObservation,
            summary=f"heartbeats of {name} at {site}", task_queue=actions.site_queue(site),
            start_to_close_timeout=window + timedelta(seconds=30), schedule_to_start_timeout=window,
            heartbeat_timeout=max(beat.interval * 3, timedelta(seconds=2)), retry_policy=policies.ONCE)
        await workflow.wait_condition(lambda: handle.done() or self._part(name, site) != sent)
        if not handle.done():
            handle.cancel()
            await asyncio.gather(handle, return_exceptions=True)
            return None
        try:
            seen: PairObservation = handle.result()
            return seen
        except ActivityError:
            self._alert_once(name, f"silent:{site}", "site_silent", site, f"{site}'s worker does not answer")
            await workflow.sleep(beat.interval)
            return None

    def _observed(self, name: str, site: str, seen: PairObservation) -> None:
        state = self.state.pairs.setdefault(name, PairState())
        state.observations[site], state.received[site] = seen, workflow.now()
        self._clear(name, f"silent:{site}")
        fresh = [line for line in seen.fenced + seen.stopped if f"{site} {line}" not in state.seen]
        for line in fresh:
            self.event(f"{name}: {site} stopped {line}")
        state.seen = [*state.seen, *(f"{site} {line}" for line in fresh)][-40:]
        fenced = [line.split(":")[0] for line in fresh if line in seen.fenced]
        if fenced:
            state.down[site] = sorted({*state.down.get(site, []), *fenced})
        for peer, view in seen.peers.items():
            if view.lost:
                self._lost(name, site, peer, seen)
            else:
                self._heard(name, site, peer)
        suspicion = state.suspicion
        if suspicion is not None and suspicion.lost == site and seen.lost() and not takeover.cut_off(seen):
            self._settle(name, f"no takeover: {site} still serves and reaches its witnesses; only the heartbeat "
                               f"link to {suspicion.by} is down")
            self._alert_once(name, f"link:{site}", "heartbeat_link_down", site,
                             f"{site} and {suspicion.by} do not hear each other, but both reach their witnesses")

    def _lost(self, name: str, by: str, peer: str, seen: PairObservation) -> None:
        state, pair, truth = self.state.pairs[name], self._spec(name), self._truth()
        apps = takeover.takeable(truth, pair, peer, by)
        heard = seen.peers[peer].last_heard
        missed = f"{pair.heartbeat.missed} heartbeats missed, last heard {heard:%H:%M:%S.%f}"[:-3] if heard else (
            "never heard")
        if takeover.cut_off(seen):
            then = ("stops serving when its lease runs out" if takeover.served_at(truth, pair, by)
                    else "stays passive")
            self._alert_once(name, f"cut:{by}", "cut_off", by, f"{by} lost {peer} ({missed}) and reached none of "
                             f"{len(seen.witnesses)} witnesses: it is the one cut off and {then}")
            return
        if not apps:
            self._alert_once(name, f"lost:{peer}", "site_lost", peer, f"{by} lost {peer} ({missed}); "
                             "nothing there to take over")
            return
        if state.suspicion is not None or f"failed:{peer}" in state.alerts:
            return
        now = workflow.now()
        reached = f"witnesses reached {seen.reached()}/{len(seen.witnesses)}" if seen.witnesses else "no witnesses"
        at = takeover.takeover_at(pair.heartbeat, heard, state.grants.get(peer), now)
        # Detected when the site's agent found the peer lost, not when its report reached this task: the owner's
        # worker may have been the lost site's, and its next task waited for another.
        detected = min(seen.peers[peer].lost_since or seen.at, now)
        state.suspicion = Suspicion(lost=peer, by=by, last_heard=heard, since=detected, takeover_at=at,
                                    evidence=f"{by} lost {peer} ({missed}); {reached}; its lease ends by "
                                             f"{at - pair.heartbeat.grace:%H:%M:%S.%f}"[:-3],
                                    missed=pair.heartbeat.missed, witnesses=dict(seen.witnesses),
                                    interval_seconds=pair.heartbeat.interval.total_seconds())
        self._decided(name, f"suspect {peer}: {state.suspicion.evidence}; takeover of {', '.join(apps)} by {by} "
                            f"at {at:%H:%M:%S.%f}"[:-3])

    def _heard(self, name: str, by: str, peer: str) -> None:
        state = self.state.pairs[name]
        self._clear(name, f"lost:{peer}")
        self._clear(name, f"cut:{by}")
        self._clear(name, f"link:{peer}")
        self._clear(name, f"failed:{peer}")
        self._clear(name, f"managed:{peer}")
        if state.suspicion is not None and state.suspicion.lost == peer and state.suspicion.by == by:
            self._settle(name, f"no takeover: {by} hears {peer} again")

    async def _restore(self, name: str, site: str, seen: PairObservation) -> None:
        """Apps a site stopped when its lease ran out, still its own (nobody took over), once it is back in touch."""
        state, truth = self.state.pairs[name], self._truth()
        down = [a for a in state.down.get(site, []) if a in takeover.served_at(truth, self._spec(name), site)]
        suspected = state.suspicion is not None and state.suspicion.lost == site
        if not down or suspected or takeover.cut_off(seen) or truth.operation is not None or self.state.paused:
            state.down[site] = down
            return
        runbook = self._runbook()
        try:
            for app in down:
                await actions.start_app(runbook, site, app, public_ports(runbook), truth.epoch)
        except ActivityError as error:
            self.event(f"{name}: {site} could not start {', '.join(down)} again: {error.cause or error}")
            return
        state.down.pop(site, None)
        self._decided(name, f"{site} serves {', '.join(down)} again: it is back in touch and nobody took over")

