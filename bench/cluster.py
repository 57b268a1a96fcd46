"""A continuity pair on this machine's loopback, as the availability tests and benchmark run it.

runbooks/shop-pair.yaml on free 127.0.0.1 ports, one `python worker.py --site NAME` process per site (each also
runs the workflows, as a site's worker does), witnesses that accept TCP connections, a client that writes
orders through the shop's public endpoint, and partitions as nftables rules that drop every packet to or from
a site's ports (its heartbeat address and its machines) while the rest of the loopback carries on.
"""

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import Client

from activities.sites.local.processes import running_pid, stop_process
from standby import client as temporal
from standby.config import Settings
from standby.contracts.local_layout import Layout
from standby.contracts.protect import OwnerStatus
from standby.contracts.state import ProtectRequest
from standby.loader import load
from standby.runbook import LocalSite, Runbook

ROOT = Path(__file__).resolve().parent.parent
SHOP_PAIR = ROOT / "runbooks" / "shop-pair.yaml"
SITES = ("primary", "dr")


def pair_runbook(folder: Path, ports: dict[str, int], **pair: Any) -> Runbook:
    """shop-pair.yaml under a unique name on the given ports (`primary`, `dr`, `test`, `public`, `hb_primary`,
    `hb_dr`, `witness0`, `witness1`), with the pair's fields overridden by `pair` (None removes one)."""
    document = yaml.safe_load(SHOP_PAIR.read_text())
    document["runbook"] = f"shop-{uuid.uuid4().hex[:8]}"
    document["sites"]["primary"]["port_base"] = ports["primary"]
    document["sites"]["dr"].update(port_base=ports["dr"], test_port_base=ports["test"])
    for offset, app in enumerate(("web", "db", "api")):
        document["apps"][app]["endpoint"]["port"] = ports["public"] + offset
    spec = document["pairs"]["shop"]
    spec["heartbeat"]["listen"] = {site: f"127.0.0.1:{ports['hb_' + site]}" for site in SITES}
    spec["witnesses"] = [f"127.0.0.1:{ports['witness0']}", f"127.0.0.1:{ports['witness1']}"]
    for key, value in pair.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    path = folder / f"{document['runbook']}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load(path)


def http(method: str, port: int, path: str, body: Any = None, timeout: float = 2.0) -> tuple[int, Any]:
    """One request to 127.0.0.1:port: the status and the body (JSON when it is)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def order(port: int, item: str) -> bool:
    """Place an order through the web endpoint; whether the shop acknowledged it (201)."""
    try:
        return http("POST", port, "/orders", {"item": item, "qty": 1})[0] == 201
    except (OSError, HTTPException):  # a site killed mid-answer leaves a short read: not acknowledged
        return False


def served(port: int) -> list[str] | None:
    """The items the shop's db serves through its public endpoint, or None while it does not answer."""
    try:
        status, orders = http("GET", port, "/orders")
    except (OSError, HTTPException):
        return None
    return [o["item"] for o in orders] if status == 200 and isinstance(orders, list) else None


@dataclass
class Witness:
    """A TCP listener that accepts and closes: something on another path a site can reach, or not."""

    port: int
    server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen on 127.0.0.1:port."""
        self.server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


class Cluster:
    """The pair's site workers, witnesses and runbook; what serves where; a site killed as a whole."""

    def __init__(self, client: Client, task_queue: str, state_dir: Path, runbook: Runbook, ports: dict[str, int],
                 logs: Path):
        self.client, self.task_queue, self.state_dir, self.runbook = client, task_queue, state_dir, runbook
        self.ports, self.logs = ports, logs
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.witnesses = [Witness(ports["witness0"]), Witness(ports["witness1"])]
        self.settings = Settings(state_dir=state_dir, temporal_address=client.service_client.config.target_host,
                                 namespace=client.namespace, task_queue=task_queue, ui_url="http://localhost:8233")

    @property
    def web(self) -> int:
        """The shop's public web port."""
        return self.ports["public"]

    @property
    def db(self) -> int:
        """The shop's public db port."""
        return self.ports["public"] + 1

    def start_worker(self, site: str) -> None:
        """`python worker.py --site SITE` against the test's server, logging to the logs folder."""
        env = {**os.environ, "TEMPORAL_ADDRESS": self.settings.temporal_address, "STANDBY_TASK_QUEUE": self.task_queue,
               "STANDBY_STATE": str(self.state_dir), "STANDBY_LOG_LEVEL": "WARNING"}
        log = open(self.logs / f"worker-{site}.log", "ab")  # noqa: SIM115  kept open by the child
        self.workers[site] = subprocess.Popen([sys.executable, "worker.py", "--site", site], cwd=ROOT, env=env,
                                              stdout=log, stderr=subprocess.STDOUT)

    async def start(self) -> None:
        """Witnesses and both sites' workers."""
        for witness in self.witnesses:
            await witness.start()
        for site in SITES:
            self.start_worker(site)

    async def protect(self, timeout: float = 90) -> OwnerStatus:
        """Protect the runbook; the owner's status once every machine is continuous and both sites are heard."""
        await temporal.protect(self.client, self.settings, ProtectRequest(runbook=self.runbook, requested_by="bench"))
        return await self.until(lambda s: _continuous(s, self.runbook) and _heard(s), timeout, "protected")

    async def status(self) -> OwnerStatus:
        """What `standby status RUNBOOK` shows."""
        handle = self.client.get_workflow_handle(temporal.owner_id(self.runbook.runbook))
        return await handle.query("status", result_type=OwnerStatus)

    async def until(self, done: Any, timeout: float, what: str, every: float = 0.1) -> OwnerStatus:
        """The owner's status once `done(status)` holds; TimeoutError naming `what` after `timeout` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            status = await self.status()
            if done(status):
                return status
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"not {what} within {timeout}s: {_described(status)}")
            await asyncio.sleep(every)

    def running(self) -> dict[str, list[str]]:
        """Each site's machines whose live process runs now: the process lists."""
        layout = Layout(self.state_dir, self.runbook.runbook)
        return {site: [m for m in self.runbook.machines if running_pid(layout.pid(site, m))] for site in SITES}

    def kill_site(self, site: str) -> None:
        """The site is lost as a whole: its worker and every machine process it runs, SIGKILLed."""
        worker = self.workers.pop(site)
        worker.kill()
        layout = Layout(self.state_dir, self.runbook.runbook)
        pids = [pid for m in self.runbook.machines if (pid := running_pid(layout.pid(site, m))) is not None]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        worker.wait()
        while any(running_pid(layout.pid(site, m)) for m in self.runbook.machines):
            time.sleep(0.005)  # SIGKILL is delivered at once, but the kernel takes a moment to end them

    def kill_machine(self, site: str, machine: str) -> int:
        """SIGKILL one machine's process at a site, as a crash; its pid."""
        pid = running_pid(Layout(self.state_dir, self.runbook.runbook).pid(site, machine))
        assert pid is not None, f"{machine} does not run at {site}"
        os.kill(pid, signal.SIGKILL)
        return pid

    def machine_up(self, site: str, machine: str, other_than: int) -> bool:
        """Whether a process other than `other_than` runs the machine at the site."""
        pid = running_pid(Layout(self.state_dir, self.runbook.runbook).pid(site, machine))
        return pid is not None and pid != other_than

    async def protected_again(self, timeout: float = 90) -> OwnerStatus:
        """Once no operation runs, every app is protected at one site, replication is continuous and heard."""
        def calm(status: OwnerStatus) -> bool:
            apps = status.truth.apps.values()
            return (status.truth.operation is None and {a.phase for a in apps} == {"protected"}
                    and len({a.serving for a in apps}) == 1 and _continuous(status, self.runbook) and _heard(status))

        return await self.until(calm, timeout, "protected again")

    def stop_processes(self) -> None:
        """Stop every process the sites and endpoints started under the state folder."""
        for pid_file in self.state_dir.rglob("*.pid"):
            stop_process(pid_file, timeout=2)

    def site_ports(self, site: str) -> list[int]:
        """A site's own ports: its heartbeat address and its machines' ports."""
        config = self.runbook.sites[site]
        assert isinstance(config, LocalSite)
        return [self.ports["hb_" + site], *(config.port_base + i for i in range(len(self.runbook.machines)))]

    async def close(self) -> None:
        """End the owner and its operations, the workers and the witnesses."""
        async for execution in self.client.list_workflows(f"Runbook = '{self.runbook.runbook}'"):
            with contextlib.suppress(Exception):
                await self.client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate("done")
        for worker in self.workers.values():
            worker.terminate()
        for worker in self.workers.values():
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
        for witness in self.witnesses:
            await witness.stop()


def free_ports(block: Callable[[int], int] | None = None) -> dict[str, int]:
    """Ports for one cluster: blocks of three for each site, drill targets and the public endpoints; single
    ports for the heartbeats and the witnesses. All below Linux's ephemeral range, where no outgoing
    connection takes them meanwhile. `block(size)` gives the first port of a free block (the tests: one in their
    pytest-xdist worker's own range, so that two tests at once never share a port); by default a random one."""
    taken: set[int] = set()
    pick = block or (lambda size: _block(size, taken))
    ports = {name: pick(3) for name in ("primary", "dr", "test", "public")}
    ports.update({name: pick(1) for name in ("hb_primary", "hb_dr", "witness0", "witness1")})
    return ports


def _block(size: int, taken: set[int]) -> int:
    for _ in range(500):
        base = random.randrange(20000, 32000 - size)
        block = set(range(base, base + size))
        if not block & taken and all(_free(port) for port in block):
            taken.update(block)
            return base
    raise RuntimeError("no free block of ports on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            tcp.bind(("127.0.0.1", port))
            udp.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _described(status: OwnerStatus) -> str:
    """What a wait that timed out needs to say: the apps, the operation, replication, the monitor's last events."""
    truth = status.truth
    apps = {name: (a.phase, a.serving) for name, a in truth.apps.items()}
    machines = {m.machine: m.phase for m in status.machines}
    events = status.monitor.events[-10:] if status.monitor else []
    return "\n".join([f"apps {apps}", f"operation {truth.operation}", f"replication {machines}",
                      f"history {truth.history[-3:]}", "monitor:", *events])


def _continuous(status: OwnerStatus, runbook: Runbook) -> bool:
    phases = {m.machine: m.phase for m in status.machines}
    return set(phases) == set(runbook.machines) and set(phases.values()) == {"continuous"}


def _heard(status: OwnerStatus) -> bool:
    pair = status.monitor.pairs.get("shop") if status.monitor else None
    return pair is not None and len(pair.observations) == 2 and all(
        not o.lost() and all(p.last_heard for p in o.peers.values()) for o in pair.observations.values())
