"""The sample shop as places: each site with a folder of its own, a provider per site with its own state folder."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from activities.sites.local import usage
from activities.sites.local.processes import stop_process, wait_for_port
from activities.sites.local.provider import LocalSiteProvider, site_layout
from standby.contracts.local_layout import Layout
from standby.contracts.sites import (
    AppInput,
    AppRef,
    IdentityInput,
    LaunchInput,
    MachineRef,
    PointsInput,
    RecoveryPoint,
    ReplicationInput,
    SiteRef,
    Target,
    app_ref,
    machine_refs,
    public_ports,
    site_ref,
)
from standby.loader import load
from standby.runbook import Runbook
from tests.helpers import eventually, post_order

SITES = ("primary", "dr")


@dataclass
class Places:
    """The shop with `path:` set for every site, and one provider per site, each with a state folder of its own."""

    runbook: Runbook
    root: Path
    providers: dict[str, LocalSiteProvider]
    strangers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def layout(self) -> Layout:
        """Where every site keeps its files (their `path:`), as a test reads them."""
        return site_layout(self.root / "no-state", "shop", [self.site(name) for name in SITES])

    def site(self, name: str) -> SiteRef:
        return site_ref(self.runbook, name)

    def app(self, name: str = "db") -> AppRef:
        return app_ref(self.runbook, name)

    def machine(self, name: str = "db1") -> MachineRef:
        return machine_refs(self.runbook, [name])[0]

    def port(self, site: str, machine: str = "db1") -> int:
        return self.runbook.sites[site].port_base + self.machine(machine).index

    def replication(self, source: str, target: str, apps: tuple[str, ...] = ("db",)) -> ReplicationInput:
        machines = [m for a in apps for m in self.runbook.apps[a].machines]
        return ReplicationInput(source=self.site(source), target=self.site(target),
                                machines=machine_refs(self.runbook, machines), apps=[self.app(a) for a in apps],
                                retention=self.runbook.protection.recovery_points, seconds=0)

    async def start_db(self, site: str, items: tuple[str, ...] = (), epoch: int = 0) -> Target:
        """The db at a site from its own data, with these orders written through it."""
        inp = AppInput(site=self.site(site), app=self.app(), endpoints=public_ports(self.runbook), epoch=epoch)
        [target] = await self.providers[site].start_app(inp)
        for item in items:
            await asyncio.to_thread(post_order, target.port, item)
        return target

    async def point(self, source: str, target: str) -> RecoveryPoint:
        """A fresh recovery point of db1 at `target`, replicated by the target's worker from `source`."""
        await self.providers[target].replicate(self.replication(source, target))
        points = await self.providers[target].recovery_points(
            PointsInput(source=self.site(source), target=self.site(target), machine=self.machine()))
        assert points, f"no recovery point of db1 at {target}"
        return points[-1]

    def launch(self, site: str, source: str, key: str, point: RecoveryPoint | None, epoch: int = 0,
               mode: str = "recovery") -> LaunchInput:
        return LaunchInput(key=key, site=self.site(site), source=self.site(source), app=self.app(),
                           machine=self.machine(), mode=mode, point=point, endpoints=public_ports(self.runbook),
                           epoch=epoch)

    def identity(self, site: str, targets: list[Target], epoch: int, peers: bool = True) -> IdentityInput:
        others = [self.site(name) for name in SITES if name != site] if peers else []
        return IdentityInput(runbook="shop", app=self.app(), site=self.site(site), targets=targets, epoch=epoch,
                             peers=others)

    def stranger(self, *argv: str, cwd: Path | None = None, port: int | None = None,
                 env: dict[str, str] | None = None) -> subprocess.Popen:
        """A Python process Standby did not start (stopped after the test); waits for its port when it has one."""
        process = subprocess.Popen([sys.executable, *argv], cwd=cwd, env=env, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.strangers.append(process)
        # Popen returns once the exec closed its pipe, a moment before the kernel sets the new command line
        eventually(lambda: usage.argv(process.pid) == [sys.executable, *argv], 5, 0.005, what="the stranger's exec")
        if port is not None:
            wait_for_port(port, timeout=10)
        return process


LISTENER = """
import socket, sys, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
while True:
    connection, _ = server.accept()
    connection.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
    connection.close()
"""


def shop_with_paths(shop_file: Path, root: Path) -> Runbook:
    """The shop runbook with every site's `path:` under root."""
    document = yaml.safe_load(shop_file.read_text())
    for name in SITES:
        document["sites"][name]["path"] = str(root / "sites" / name)
    path = root / "shop-with-paths.yaml"
    path.write_text(json.dumps(document))
    return load(path)


def open_places(shop_file: Path, root: Path) -> Places:
    """Each site's provider with its own state folder under root, as one worker per site has."""
    runbook = shop_with_paths(shop_file, root)
    providers = {name: LocalSiteProvider(site_ref(runbook, name), root / f"state-{name}") for name in SITES}
    return Places(runbook, root, providers)


def close_places(shop: Places) -> None:
    """Stops every process the test started: its strangers and whatever a pid file under the root names."""
    for process in shop.strangers:
        process.kill()
        process.wait()
    for pid_file in shop.root.rglob("*.pid"):
        stop_process(pid_file, timeout=2)
