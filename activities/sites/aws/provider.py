"""The `aws` site provider: Elastic Disaster Recovery launches, EC2 instances, Route 53 identity, SSM commands.

DRS runs in the recovery region: the runbook's `source_id`s are source servers there. A site's provider talks to
its own region; what lives in the other one (the recovery instances a failback replicates from, the server a return
reverses into) it reaches through `peer(site)`, with clients built the same way. Machines are found by id, or by
the tags `standby:runbook` and `standby:machine` Standby puts on the source servers reverse replication creates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from activities.sites.aws import cleanup, drs, failback, fencing
from activities.sites.aws import instances as ec2
from activities.sites.aws.clients import Api, AwsClients, connect
from activities.sites.aws.commands import run_all
from activities.sites.aws.dns import upsert
from activities.sites.aws.drs import servers_of
from activities.sites.aws.launch import Launch, prepare, release
from activities.sites.base import PermanentProviderError
from standby.contracts.sites import (
    AppInput,
    DirectionInput,
    IdentityInput,
    LaunchInput,
    MachineRef,
    MachineReplication,
    PointsInput,
    RecoveryPoint,
    ReplicationInput,
    SiteRef,
    StopResult,
    Target,
    TerminateInput,
)
from standby.runbook import AwsSite

Item = dict
# Points read per machine for status: the newest ones; a failover lists them all.
STATUS_POINTS = 100
WAIT_SECONDS = 900.0


# A server outside AWS is not Standby's to stop; what keeps it from serving is the operation's newer epoch, which
# its identity record now carries and which its old site can no longer override, and its paused replication.
OUTSIDE_FENCED = ("fenced (runs outside AWS, where Standby cannot stop it: the identity moves under the operation's "
                  "newer epoch, which the old site cannot override)")

class AwsSiteProvider:
    """One AWS region of a runbook; clients injected (tests) or built from the worker's environment."""

    def __init__(self, site: SiteRef, clients: AwsClients | None = None,
                 peers: Callable[[SiteRef], AwsClients] | None = None, poll: float = 10.0):
        assert isinstance(site.config, AwsSite)
        self.site, self.config, self.poll = site, site.config, poll
        self.api = Api(clients or connect(site), self.describe())
        self._peers = peers or connect
        self._peer_apis: dict[str, Api] = {}

    def describe(self) -> str:
        """`site=dr, region=eu-west-1`."""
        return f"site={self.site.name}, region={self.config.region}"

    def peer(self, site: SiteRef) -> Api:
        """Calls into another AWS site of the runbook (the same one for this site)."""
        if site.name == self.site.name:
            return self.api
        if not isinstance(site.config, AwsSite):
            raise PermanentProviderError(f"site {site.name} is not an AWS site [{self.describe()}]")
        if site.name not in self._peer_apis:
            self._peer_apis[site.name] = Api(self._peers(site), f"site={site.name}, region={site.config.region}")
        return self._peer_apis[site.name]

    def _tags(self, machine: str, key: str | None = None, mode: str | None = None,
              created: bool = False, epoch: int = 0) -> dict[str, str]:
        tags = {drs.RUNBOOK: self.site.runbook, drs.MACHINE: machine, drs.KEY: key, drs.MODE: mode,
                drs.DRILL: key if mode == "test" else None, drs.CREATED: key if created else None,
                fencing.EPOCH: str(epoch) if mode == "recovery" and epoch else None}
        return {k: v for k, v in tags.items() if v}

    async def replication(self, inp: ReplicationInput) -> list[MachineReplication]:
        """Each machine's data replication into this region, or its failback replication to outside AWS."""
        servers = await servers_of(self.api, self.site.runbook, inp.machines)
        return list(await asyncio.gather(*(self._replication(inp, m, servers.get(m.name)) for m in inp.machines)))

    async def _replication(self, inp: ReplicationInput, machine: MachineRef,
                           server: Item | None) -> MachineReplication:
        if server is None and machine.config.source == "onprem":
            try:
                instance = await failback.recovery_instance(self.peer(inp.source), machine)
            except PermanentProviderError as error:
                return MachineReplication(machine=machine.name, phase="stopped", detail=str(error))
            return drs.failback_of(machine.name, instance, datetime.now(UTC))
        if server is None:
            return MachineReplication(machine=machine.name, phase="stopped",
                                      detail=f"no source server for {machine.name} at {self.site.name}")
        info = server.get("dataReplicationInfo") or {}
        launchable = drs.PHASES.get(info.get("dataReplicationState", "")) in ("continuous", "stalled", "backlog")
        points = await drs.snapshots(self.api, server["sourceServerID"], STATUS_POINTS) if launchable else []
        state = drs.replication_of(machine.name, info, points)
        if drs.tags_of(server).get(drs.REPLICATION) == drs.PAUSED:
            paused = "paused by Standby (DRS keeps replicating, so its recovery points stay)"
            state = state.model_copy(update={"detail": "; ".join(filter(None, [paused, state.detail]))})
        return state

    async def replicate(self, inp: ReplicationInput) -> list[MachineReplication]:
        """DRS replicates continuously by itself: report."""
        return await self.replication(inp)

    async def recovery_points(self, inp: PointsInput) -> list[RecoveryPoint]:
        """Recovery snapshots of the machine's source server, oldest first (failback outside AWS: one point)."""
        server = (await servers_of(self.api, self.site.runbook, [inp.machine])).get(inp.machine.name)
        if server is None and inp.machine.config.source == "onprem":
            instance = await failback.recovery_instance(self.peer(inp.source), inp.machine)
            return [RecoveryPoint(id=f"failback-{instance['recoveryInstanceID']}", time=datetime.now(UTC))]
        if server is None:
            raise self._no_server(inp.machine)
        items = await drs.snapshots(self.api, server["sourceServerID"])
        return [RecoveryPoint(id=i["snapshotID"], time=drs.parse_time(i.get("timestamp") or i["expectedTimestamp"]))
                for i in items]

    def _no_server(self, machine: MachineRef) -> PermanentProviderError:
        return PermanentProviderError(f"no DRS source server for {machine.name} [{self.describe()}, "
                                      f"server={machine.config.source_id}]: reverse replication first")

    async def launch(self, inp: LaunchInput) -> Target:
        """Launch one machine (see launch_batch)."""
        return (await self.launch_batch([inp]))[0]

    async def launch_batch(self, inputs: list[LaunchInput]) -> list[Target]:
        """Launch machines (stale epochs refused), 200 servers per StartRecovery at most; a retry finds its jobs."""
        await fencing.admit_launches(self.api, self.site.runbook, inputs)
        servers = await servers_of(self.api, self.site.runbook, [i.machine for i in inputs])
        outside = [i for i in inputs if i.machine.name not in servers]
        for inp in outside:
            if inp.machine.config.source != "onprem" or inp.mode != "recovery":
                raise self._no_server(inp.machine)
        targets = await self._launch_drs([i for i in inputs if i.machine.name in servers], servers)
        for source in {i.source.name: i.source for i in outside}.values():
            group = [i for i in outside if i.source.name == source.name]
            targets.update(await failback.launch(self.peer(source), group, self.poll, self.site.name))
        return [targets[(i.key, i.machine.name)] for i in inputs]

    async def _launch_drs(self, inputs: list[LaunchInput], servers: dict[str, Item]) -> dict[tuple[str, str], Target]:
        if not inputs:
            return {}
        sid = {i.machine.name: servers[i.machine.name]["sourceServerID"] for i in inputs}
        into = {i.machine.name: await self._launch_into(i, servers[i.machine.name]) for i in inputs}
        found = await drs.launched(self.api, {i.key for i in inputs})
        todo = [i for i in inputs if (i.key, sid[i.machine.name]) not in found]
        # Every input, not only those still to start: a retried drill holds its templates until its jobs are done.
        held = await prepare(self.api, [Launch(sid[i.machine.name], i.machine.config.blueprint, i.mode,
                                               into[i.machine.name], self.config.drill) for i in inputs])
        try:
            jobs = {job["jobID"] for job in found.values()} | await self._start(todo, sid)
            done = await drs.wait_jobs(self.api, sorted(jobs), self.poll)
        finally:
            await release(self.api, held)
        return await self._targets(inputs, sid, done, into)

    async def _start(self, todo: list[LaunchInput], sid: dict[str, str]) -> set[str]:
        jobs = set()
        for key, mode in sorted({(i.key, i.mode) for i in todo}):
            group = [i for i in todo if (i.key, i.mode) == (key, mode)]
            for part in drs.chunks(group):
                sources = [{"sourceServerID": sid[i.machine.name],
                            **({"recoverySnapshotID": i.point.id} if i.point and i.point.id.startswith("pit-") else {})}
                           for i in part]
                started = await self.api.do("drs", "start_recovery", sourceServers=sources, isDrill=mode == "test",
                                            tags={drs.KEY: key, drs.RUNBOOK: self.site.runbook, drs.MODE: mode})
                jobs.add(started["job"]["jobID"])
        return jobs

    async def _launch_into(self, inp: LaunchInput, server: Item) -> str | None:
        """Failback of an EC2 machine into its original instance, found by its tags at this site."""
        back = server.get("replicationDirection") == "FAILBACK"
        if not back or inp.mode != "recovery" or inp.machine.config.source != "ec2":
            return None
        originals = await ec2.of_machine(self.api, self.site.runbook, inp.machine.name)
        return originals[0]["InstanceId"] if len(originals) == 1 else None

    async def _targets(self, inputs: list[LaunchInput], sid: dict[str, str], jobs: dict[str, Item],
                       into: dict[str, str | None]) -> dict[tuple[str, str], Target]:
        placed: dict[tuple[str, str], tuple[str, Item]] = {}
        for job in jobs.values():
            for part in job.get("participatingServers", []):
                where = (drs.tags_of(job).get(drs.KEY, ""), part["sourceServerID"])
                if where not in placed or part.get("launchStatus") == "LAUNCHED":  # a relaunch wins over a failure
                    placed[where] = (job["jobID"], part)
        ids: dict[tuple[str, str], str] = {}
        for inp in inputs:
            job_id, part = placed[(inp.key, sid[inp.machine.name])]
            if part.get("launchStatus") != "LAUNCHED" or not part.get("recoveryInstanceID"):
                why = await drs.failure_of(self.api, job_id, sid[inp.machine.name])
                raise PermanentProviderError(f"launch of {inp.machine.name} failed in {job_id}: {why} "
                                             f"[{self.describe()}, server={sid[inp.machine.name]}]")
            ids[(inp.key, inp.machine.name)] = part["recoveryInstanceID"]
        instances = await ec2.by_ids(self.api, list(ids.values()))
        # A machine's original instance, launched into by a failback, is never marked as created: no cleanup takes it.
        launched = {ids[(i.key, i.machine.name)]: i for i in inputs}
        await ec2.tag(self.api, {ident: self._tags(i.machine.name, i.key, i.mode,
                                                   created=i.mode == "recovery" and ident != into[i.machine.name],
                                                   epoch=i.epoch)
                                 for ident, i in launched.items()})
        targets = {}
        for inp in inputs:
            ident = ids[(inp.key, inp.machine.name)]
            await self._post_launch(inp, ident)
            targets[(inp.key, inp.machine.name)] = Target(
                key=inp.key, machine=inp.machine.name, app=inp.app.name, site=self.site.name, mode=inp.mode,
                target_id=ident, address=ec2.address(instances.get(ident, {})),
                point_id=inp.point.id if inp.point else None)
        return targets

    async def _post_launch(self, inp: LaunchInput, instance: str) -> None:
        blueprint = inp.machine.config.blueprint
        if blueprint and blueprint.post_launch:
            tag = drs.launch_tag(inp.key, inp.machine.name)
            await run_all(self.api, instance, [list(c) for c in blueprint.post_launch], tag, self.poll, WAIT_SECONDS)

    async def start_app(self, inp: AppInput) -> list[Target]:
        """Start the app's production instances at this site (tagged for their machines), under the epoch."""
        await fencing.admit(self.api, self.site.runbook, inp.app, inp.epoch)
        targets = []
        for machine in inp.app.machines:
            found = await ec2.of_machine(self.api, self.site.runbook, machine.name)
            if not found:
                raise PermanentProviderError(f"no EC2 instance tagged {drs.MACHINE}={machine.name} "
                                             f"[{self.describe()}]")
            running = await ec2.start(self.api, [i["InstanceId"] for i in found], self.poll, WAIT_SECONDS)
            await fencing.mark(self.api, list(running), inp.epoch)
            targets += [Target(key="live", machine=machine.name, app=inp.app.name, site=self.site.name, mode="recovery",
                               target_id=ident, address=ec2.address(i)) for ident, i in running.items()]
        return targets

    async def stop_app(self, inp: AppInput) -> StopResult:
        """Stop the app's production instances at this site; machines outside AWS are not Standby's to stop."""
        outcome, outside = {}, []
        for machine in inp.app.machines:
            found = await ec2.of_machine(self.api, self.site.runbook, machine.name)
            running = [i["InstanceId"] for i in found if i["State"]["Name"] in ("pending", "running")]
            if running:
                await ec2.stop(self.api, running, self.poll, inp.app.config.stop_timeout.total_seconds() + WAIT_SECONDS)
            if not found and machine.config.source == "onprem":
                outside.append(machine.name)
                outcome[machine.name] = OUTSIDE_FENCED
            else:
                outcome[machine.name] = "stopped" if running else "not running" if found else "no instance"
        return StopResult(app=inp.app.name, site=self.site.name, outcome=outcome, unstoppable=outside)

    async def terminate(self, inp: TerminateInput) -> list[str]:
        """Terminate the drill instances of a key (or key prefix; of `inp.machines` only); with `recovery`, also the
        recovery ones it made."""
        where = (self.api, self.site.runbook, inp.key, inp.prefix, self.poll, inp.machines)
        removed = await cleanup.drill_targets(*where)
        if inp.recovery:
            removed += await cleanup.recovery_targets(*where)
        return removed

    async def set_direction(self, inp: DirectionInput) -> None:
        """Replicate inp.source -> this site: reverse replication of recovery instances, or restart replication.

        Pausing (running=False) only marks the source servers here (`drs.mark_paused` says why DRS is not asked to
        stop): a failover pauses just before it launches from their recovery snapshots.
        """
        here = await servers_of(self.api, self.site.runbook, inp.machines)
        await drs.mark_paused(self.api, list(here.values()), paused=not inp.running)
        if not inp.running:
            return
        # From a vCenter or a data centre (a mixed runbook): no recovery instance there to reverse, only replication
        # here to restart.
        from_aws = isinstance(inp.source.config, AwsSite)
        source = self.peer(inp.source) if from_aws else self.api
        there = await servers_of(source, self.site.runbook, inp.machines) if from_aws else {}
        for machine in inp.machines:
            if machine.config.source == "onprem" and machine.name not in here:
                continue  # failing back outside AWS: the Failback Client replicates, as a child of the failback
            await self._reverse(source, machine, there.get(machine.name), here.get(machine.name))

    async def _reverse(self, source: Api, machine: MachineRef, there: Item | None, here: Item | None) -> None:
        instances = await drs.recovery_instances(source, servers=[there["sourceServerID"]]) if there else []
        live = [i for i in instances if not i.get("isDrill") and i.get("ec2InstanceState") not in failback.GONE]
        if live and machine.config.source == "ec2":
            ident = max(live, key=lambda i: i.get("pointInTimeSnapshotDateTime") or "")["recoveryInstanceID"]
            reversed_ = await source.call("drs", "reverse_replication", ident, benign=frozenset({"ConflictException"}),
                                          recoveryInstanceID=ident)
            if arn := (reversed_ or {}).get("reversedDirectionSourceServerArn"):
                await self.api.do("drs", "tag_resource", resourceArn=arn, tags=self._tags(machine.name))
            return
        # Nothing to reverse and nothing here: a machine the last failover left out; its app's wait names it.
        state = ((here or {}).get("dataReplicationInfo") or {}).get("dataReplicationState")
        if here is not None and state in ("STOPPED", "DISCONNECTED", "PAUSED"):
            ident = here["sourceServerID"]
            await self.api.call("drs", "start_replication", ident, benign=frozenset({"ConflictException"}),
                                sourceServerID=ident)

    async def move_identity(self, inp: IdentityInput) -> str:
        """UPSERT the app's Route 53 record to its targets here (private addresses) unless fenced, wait for INSYNC."""
        spec = inp.app.config.endpoint
        if spec is None:
            return f"{inp.app.name} has no endpoint"
        if not spec.zone:
            raise PermanentProviderError(f"endpoint {spec.name} of {inp.app.name} needs 'zone': its Route 53 hosted "
                                         f"zone id [{self.describe()}]")
        values = [t.address for t in inp.targets if t.address]
        if not values:
            for machine in inp.app.machines:
                values += [a for i in await ec2.of_machine(self.api, self.site.runbook, machine.name)
                           if (a := ec2.address(i))]
        if not values:
            raise PermanentProviderError(f"no address to point {spec.name} at [{self.describe()}]")
        return await upsert(self.api, spec.zone, spec.name, int(spec.ttl.total_seconds()), sorted(set(values)),
                            self.poll, WAIT_SECONDS, inp.epoch)
