"""The heartbeat agents of a worker, one per runbook, pair and site, and the `watch_pair` activity over them."""

import asyncio
import time

from temporalio import activity

from activities.monitor.heartbeat import Agent
from activities.sites.registry import Providers
from standby.contracts.pairs import PairObservation, PairWatch
from standby.contracts.sites import AppInput, AppRef, SiteRef

# An agent no activity has spoken to for this long, and that serves nothing, has been left behind: it ends.
IDLE_SECONDS = 600.0


class Agents:
    """The agents of this worker's sites; each outlives the activities that talk to it."""

    def __init__(self, providers: Providers):
        self.providers = providers
        self.running: dict[tuple[str, str, str], Agent] = {}

    async def watch(self, inp: PairWatch) -> PairObservation:
        """Tell the site's agent its part, stop what another site serves, then wait for news or the window's end."""
        agent = await self._agent(inp)
        stopped = await self._stop_stale(inp, agent)
        deadline = time.monotonic() + inp.window_seconds
        while not agent.news.is_set() and not stopped:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(agent.news.wait(), min(remaining, inp.interval_seconds))
            except TimeoutError:
                activity.heartbeat(f"{inp.pair} at {inp.site.name}")
        return agent.observation()

    async def _agent(self, inp: PairWatch) -> Agent:
        self._reap()
        key = (inp.runbook, inp.pair, inp.site.name)
        agent = self.running.get(key)
        if agent is not None and agent.watch.listen != inp.listen:
            agent.close()
            agent = None
        if agent is None:
            agent = Agent(inp, lambda app: self._stop(inp.site, app))
            agent.update(inp)
            await agent.start()
            self.running[key] = agent
        else:
            agent.update(inp)
        return agent

    def _reap(self) -> None:
        now = time.monotonic()
        for key, agent in list(self.running.items()):
            if not agent.serving and now - agent.refreshed > IDLE_SECONDS:
                agent.close()
                del self.running[key]

    async def _stop(self, site: SiteRef, app: AppRef) -> str:
        result = await self.providers.for_site(site).stop_app(AppInput(site=site, app=app))
        return ", ".join(f"{machine} {outcome}" for machine, outcome in result.outcome.items())

    async def _stop_stale(self, inp: PairWatch, agent: Agent) -> bool:
        """Apps another site serves that still run here (an old active come back): stopped; whether any was."""
        stopped = False
        for app in inp.stop:
            outcome = await self._stop(inp.site, app)
            if "stopped" in outcome or "killed" in outcome:
                agent.record_stop(f"{app.name}: another site serves it under epoch {inp.epoch} ({outcome})")
                stopped = True
        return stopped

    def close(self) -> None:
        """End every agent (the worker is stopping)."""
        for agent in self.running.values():
            agent.close()
        self.running.clear()
