"""Benchmark: what the live-data check costs a local launch on a busy host.

    python bench/live_data.py [--crowd 300] [--files 16] [--rounds 20] [--json]

A crowd of `--crowd` idle processes (forked from one, so they cost little memory), each holding `--files` files
and one listening socket open, stands in for a busy host. The figures are the median time of the check a launch
makes before it restores a point (`serving.in_use`: every process that names, works in or holds a file in the
data folder, and the port's listener), of a whole drill launch of the shop's db (restore, start, serving) and of
the replication status of the shop's three machines after a failover (who serves each at dr and at the paused
source), each without and then with the crowd. They are printed, never asserted: they depend on the host.
"""

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from activities.sites.local import serving  # noqa: E402
from activities.sites.local.processes import free_block  # noqa: E402
from activities.sites.local.provider import LocalSiteProvider, site_layout  # noqa: E402
from sampleapp.db import LOG_NAME, encode_line  # noqa: E402
from standby.contracts.local_layout import Layout  # noqa: E402
from standby.contracts.sites import (  # noqa: E402
    LaunchInput,
    PointsInput,
    ReplicationInput,
    TerminateInput,
    app_ref,
    machine_refs,
    public_ports,
    site_ref,
)
from standby.loader import load  # noqa: E402
from standby.runbook import Runbook  # noqa: E402

# Each child opens its files and a listening socket, says so on the pipe, and sleeps until the group is killed.
CROWD = """
import os, socket, sys, time
count, files, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for n in range(count):
    if os.fork() == 0:
        held = [open(os.path.join(folder, f"{n}-{k}"), "a") for k in range(files)]
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        os.write(1, b".")
        time.sleep(3600)
        os._exit(0)
time.sleep(3600)
"""


def arguments() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crowd", type=int, default=300, help="idle processes that make the host busy")
    parser.add_argument("--files", type=int, default=16, help="files each idle process holds open")
    parser.add_argument("--rounds", type=int, default=20, help="checks and launches timed, for each median")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args()


def shop(root: Path) -> Runbook:
    """The sample shop on free ports, each site's folder under root."""
    document = load(ROOT / "runbooks" / "shop.yaml").model_dump(mode="json", exclude_unset=True)
    for name, site in document["sites"].items():
        site.update(port_base=free_block(3), test_port_base=free_block(3), path=str(root / "sites" / name))
    for app in document["apps"].values():
        app["endpoint"]["port"] = free_block(1)
    path = root / "shop.json"
    path.write_text(json.dumps(document))
    return load(path)


class Crowd:
    """The idle processes of a busy host: started, counted ready, killed as one group."""

    def __init__(self, size: int, files: int, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen([sys.executable, "-c", CROWD, str(size), str(files), str(folder)],
                                        stdout=subprocess.PIPE, start_new_session=True)
        assert self.process.stdout is not None
        ready = 0
        while ready < size:
            chunk = self.process.stdout.read1(size - ready)  # type: ignore[attr-defined]
            if not chunk:
                raise RuntimeError("the crowd exited before it was ready")
            ready += len(chunk)

    def stop(self) -> None:
        """Kills every process of the crowd."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


class Bench:
    """The shop's dr site with a recovery point of the db, launched in drills one key after the other."""

    def __init__(self, root: Path):
        self.runbook = shop(root)
        self.sites = [site_ref(self.runbook, name) for name in ("primary", "dr")]
        self.dr = LocalSiteProvider(self.sites[1], root / "state")
        self.layout: Layout = site_layout(root / "state", "shop", self.sites)
        self.machine = machine_refs(self.runbook, ["db1"])[0]
        self.launches = 0

    async def prepare(self) -> None:
        """Orders at primary, replicated into one recovery point at dr."""
        data = self.layout.data("primary", "db1")
        data.mkdir(parents=True, exist_ok=True)
        (data / LOG_NAME).write_bytes(b"".join(encode_line({"id": n, "item": f"i{n}", "qty": 1}) for n in range(50)))
        await self.dr.replicate(ReplicationInput(source=self.sites[0], target=self.sites[1], machines=[self.machine],
                                                 apps=[app_ref(self.runbook, "db")], seconds=0,
                                                 retention=self.runbook.protection.recovery_points))
        self.point = (await self.dr.recovery_points(PointsInput(source=self.sites[0], target=self.sites[1],
                                                                machine=self.machine)))[-1]

    async def check(self) -> None:
        """The check a launch makes before it restores into the live data folder."""
        port = self.runbook.sites["dr"].port_base + self.machine.index
        await asyncio.to_thread(serving.in_use, self.layout.data("dr", "db1"), port)

    async def launch(self) -> None:
        """One drill launch of the db, timed up to the moment it serves; its process is stopped after."""
        self.launches += 1
        key = f"standby/shop/drill-{self.launches}"
        await self.dr.launch(LaunchInput(key=key, site=self.sites[1], source=self.sites[0],
                                         app=app_ref(self.runbook, "db"), machine=self.machine, mode="test",
                                         point=self.point, endpoints=public_ports(self.runbook)))
        self.finish = key

    async def status(self) -> None:
        """Replication status of all three machines, failed over: at dr, and at the paused source primary."""
        machines = machine_refs(self.runbook, ["db1", "app1", "web1"])
        await self.dr.replication(ReplicationInput(
            source=self.sites[0], target=self.sites[1], machines=machines, copy_data=False, seconds=0,
            apps=[app_ref(self.runbook, name) for name in ("db", "api", "web")],
            retention=self.runbook.protection.recovery_points))

    async def terminate(self) -> None:
        """Stops the last launch's process and removes its copy."""
        await self.dr.terminate(TerminateInput(site=self.sites[1], key=self.finish))


async def median(rounds: int, timed: Callable[[], Awaitable[None]],
                 after: Callable[[], Awaitable[None]] | None = None) -> float:
    """The median seconds of `timed` over the rounds; `after` runs untimed after each."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        await timed()
        times.append(time.perf_counter() - began)
        if after is not None:
            await after()
    return round(statistics.median(times), 4)


async def measure(bench: Bench, rounds: int) -> dict[str, float]:
    """The check's, a launch's and a status's median seconds."""
    return {"check_s": await median(rounds, bench.check),
            "launch_s": await median(max(1, rounds // 2), bench.launch, bench.terminate),
            "status_s": await median(rounds, bench.status)}


async def run(args: argparse.Namespace) -> dict:
    """The figures without and with the crowd."""
    with tempfile.TemporaryDirectory(prefix="standby-bench-live-data-") as folder:
        bench = Bench(Path(folder))
        await bench.prepare()
        quiet = await measure(bench, args.rounds)
        crowd = Crowd(args.crowd, args.files, Path(folder) / "crowd")
        try:
            busy = await measure(bench, args.rounds)
        finally:
            crowd.stop()
    figures: dict = {"cpus": os.cpu_count(), "crowd": args.crowd, "files_each": args.files}
    figures.update({f"quiet_{key}": value for key, value in quiet.items()})
    figures.update({f"busy_{key}": value for key, value in busy.items()})
    return figures


def main() -> None:
    """Run the benchmark and print its figures."""
    args = arguments()
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    width = max(len(key) for key in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
