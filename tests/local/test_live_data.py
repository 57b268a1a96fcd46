"""Launches never land on live data, a stranger on the port is never taken for the launch, strays are found and stopped.

Real processes on real ports: the sample db, plain Python processes standing in for an operator's, and the provider.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import threading
from pathlib import Path

import pytest

from activities.sites.base import PermanentProviderError
from activities.sites.local import procfs, usage
from activities.sites.local.processes import is_running, port_open, read_pid_file, running_pid
from activities.sites.local.provider import LocalSiteProvider
from sampleapp.db import LOG_NAME, encode_line
from standby.contracts.sites import AppInput, app_ref, site_ref
from standby.loader import load
from tests.helpers import eventually, get_orders, post_order
from tests.local.places import LISTENER, Places


def write_orders(folder: Path, items: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOG_NAME).write_bytes(b"".join(encode_line({"id": i, "item": it, "qty": 1})
                                             for i, it in enumerate(items, 1)))


def launched(places: Places, site: str) -> list[dict]:
    log = places.layout.launches(site)
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


async def test_a_failback_restore_into_the_folder_of_a_live_db_is_refused_and_its_data_stays(places: Places) -> None:
    """After a return to normal the primary db runs again; a failback's restore must not empty its data."""
    live = await places.start_db("primary", ("a", "b", "c", "d", "e"))
    write_orders(places.layout.data("dr", "db1"), ["a"])  # dr's older data, reverse-replicated to primary
    point = await places.point("dr", "primary")
    data = places.layout.data("primary", "db1")
    before = (data / LOG_NAME).read_bytes()
    pid = running_pid(places.layout.pid("primary", "db1"))

    with pytest.raises(PermanentProviderError) as refused:
        await places.providers["primary"].launch(places.launch("primary", "dr", "standby/shop/failback", point))

    message = str(refused.value)
    for named in ("db/db1", "at primary", str(data), f"pid {pid}", "sampleapp.db", "[site=primary"):
        assert named in message, f"{named!r} not in: {message}"
    assert (data / LOG_NAME).read_bytes() == before, "the refused launch changed the live db's data"
    assert [o["item"] for o in get_orders(live.port)] == ["a", "b", "c", "d", "e"]
    await asyncio.to_thread(post_order, live.port, "f")
    assert (data / LOG_NAME).read_bytes().startswith(before)
    assert [entry["key"] for entry in launched(places, "primary")] == ["live"], "the failback started a process"
    assert not places.layout.target("primary", "standby/shop/failback", "db1").exists(), "a retry would not restore"


@pytest.mark.parametrize("how", ["command line", "working folder", "open file"])
async def test_a_restore_is_refused_whichever_way_a_process_uses_the_folder(places: Places, how: str) -> None:
    await places.start_db("primary", ("a",))
    point = await places.point("primary", "dr")
    data = places.layout.data("dr", "db1")
    data.mkdir(parents=True)
    held = data / "held-open"
    sleeper = "import os, sys, time\nif 'HOLD' in os.environ: f = open(os.environ['HOLD'], 'a')\ntime.sleep(60)"
    if how == "command line":
        user = places.stranger("-c", sleeper, str(data))
    elif how == "working folder":
        user = places.stranger("-c", sleeper, cwd=data)
    else:
        user = places.stranger("-c", sleeper, env={**os.environ, "HOLD": str(held)})
        eventually(held.exists, 5)

    with pytest.raises(PermanentProviderError, match=rf"pid {user.pid} \(.*python.*\) is there") as refused:
        await places.providers["dr"].launch(places.launch("dr", "primary", "standby/shop/failover", point))

    expected = {"command line": "its command line names", "working folder": "it works in",
                "open file": "it has files in"}[how]
    assert f"{expected} {data}" in str(refused.value)
    assert not (data / LOG_NAME).exists(), "the point was restored under the process"
    assert user.poll() is None, "the launch stopped a process it did not start"


async def test_a_start_is_refused_while_a_process_standby_did_not_start_holds_a_data_file_open(places: Places) -> None:
    """The start of an app from the site's own data checks the folder too: a stranger with only a file open there."""
    data = places.layout.data("primary", "db1")
    write_orders(data, ["a"])
    holder = "import os, time\nf = open(os.environ['HOLD'], 'a')\nprint('open', flush=True)\ntime.sleep(60)"
    user = places.stranger("-c", holder, env={**os.environ, "HOLD": str(data / LOG_NAME)})
    eventually(lambda: usage.users_of(data), 5, what="the stranger holding the order log")

    with pytest.raises(PermanentProviderError) as refused:
        await places.start_db("primary")

    assert f"pid {user.pid} (" in str(refused.value) and f"it has files in {data} open" in str(refused.value)
    assert launched(places, "primary") == [] and user.poll() is None
    assert not is_running(places.layout.pid("primary", "db1"))


async def test_a_stranger_on_the_port_is_an_error_that_names_it_never_a_started_db(places: Places) -> None:
    await places.start_db("primary", ("a",))
    point = await places.point("primary", "dr")
    port = places.port("dr")
    stranger = places.stranger("-c", LISTENER, str(port), port=port)

    with pytest.raises(PermanentProviderError) as refused:
        await places.providers["dr"].launch(places.launch("dr", "primary", "standby/shop/failover", point))

    assert f"pid {stranger.pid} (" in str(refused.value) and f"listens on 127.0.0.1:{port}" in str(refused.value)
    assert not places.layout.data("dr", "db1").exists(), "a point was restored for a launch that cannot serve"
    assert launched(places, "dr") == [] and stranger.poll() is None


SILENT = "import pathlib, sys, time\npathlib.Path(sys.argv[1]).touch()\ntime.sleep(60)"


async def test_a_stranger_that_takes_the_port_while_the_app_starts_is_not_taken_for_it(places: Places) -> None:
    """The app's process never listens; a stranger (this test) binds its port meanwhile: refused, the app stopped."""
    document = json.loads((places.root / "shop-with-paths.yaml").read_text())
    marker = places.root / "started"
    document["apps"]["db"]["start"] = ["{{ python }}", "-c", SILENT, str(marker), "{{ port }}"]
    (places.root / "silent.yaml").write_text(json.dumps(document))
    runbook = load(places.root / "silent.yaml")
    provider = LocalSiteProvider(site_ref(runbook, "dr"), places.root / "state-dr")
    port = places.port("dr")
    stranger = socket.socket()

    def take_port() -> None:
        eventually(marker.exists, 10)
        stranger.bind(("127.0.0.1", port))
        stranger.listen()

    thief = threading.Thread(target=take_port)
    thief.start()
    try:
        with pytest.raises(PermanentProviderError, match=rf"port {port} is held by pid {os.getpid()} \("):
            await provider.start_app(AppInput(site=site_ref(runbook, "dr"), app=app_ref(runbook, "db")))
        thief.join()
        assert not is_running(places.layout.pid("dr", "db1")), "the app's own process was left running"
    finally:
        thief.join()
        stranger.close()


async def test_a_retry_finds_its_own_process_and_another_key_does_not_adopt_it(places: Places) -> None:
    await places.start_db("primary", ("a",))
    point = await places.point("primary", "dr")
    dr = places.providers["dr"]
    first = await dr.launch(places.launch("dr", "primary", "standby/shop/failover", point))
    await asyncio.to_thread(post_order, first.port, "written at dr")
    pid = running_pid(places.layout.pid("dr", "db1"))

    again = await dr.launch(places.launch("dr", "primary", "standby/shop/failover", point))
    assert not again.launched and running_pid(places.layout.pid("dr", "db1")) == pid

    with pytest.raises(PermanentProviderError, match=rf"pid {pid} \("):
        await dr.launch(places.launch("dr", "primary", "standby/shop/failover-2", point))
    assert running_pid(places.layout.pid("dr", "db1")) == pid

    # the key's process died: a retry starts it again on the data it wrote, without restoring over it
    os.killpg(pid, signal.SIGKILL)
    eventually(lambda: not is_running(places.layout.pid("dr", "db1")), 5)
    third = await dr.launch(places.launch("dr", "primary", "standby/shop/failover", point))
    assert third.launched and running_pid(places.layout.pid("dr", "db1")) not in (None, pid)
    assert [o["item"] for o in get_orders(third.port)] == ["a", "written at dr"]
    assert [entry["key"] for entry in launched(places, "dr")] == ["standby/shop/failover"] * 2


async def test_an_old_primary_back_by_itself_is_reported_never_adopted_and_stopped(places: Places) -> None:
    await places.start_db("primary", ("a", "b"))
    point = await places.point("primary", "dr")
    primary, dr = places.providers["primary"], places.providers["dr"]
    assert (await primary.stop_app(AppInput(site=places.site("primary"), app=places.app()))).outcome == {
        "db1": "stopped"}
    recovered = await dr.launch(places.launch("dr", "primary", "standby/shop/failover", point, epoch=1))

    # an operator restarts primary's db by hand, with the command line Standby used
    data, port = places.layout.data("primary", "db1"), places.port("primary")
    stray = places.stranger("-m", "sampleapp.db", "--port", str(port), "--data", str(data), port=port)

    [seen] = await primary.replication(places.replication("dr", "primary"))
    assert [(s.pid, s.started_by_standby) for s in seen.serving] == [(stray.pid, False)]
    assert "sampleapp.db" in seen.serving[0].command
    assert f"pid {stray.pid} (" in seen.detail and "Standby did not start it" in seen.detail
    [at_dr] = await dr.replication(places.replication("primary", "dr"))
    assert [(s.pid, s.started_by_standby) for s in at_dr.serving] == [
        (read_pid_file(places.layout.pid("dr", "db1")).pid, True)]
    assert "did not start" not in at_dr.detail

    back = await places.point("dr", "primary")
    with pytest.raises(PermanentProviderError, match=rf"pid {stray.pid} \("):
        await primary.launch(places.launch("primary", "dr", "standby/shop/failback", back, epoch=1))
    assert stray.poll() is None and port_open(port)

    stopped = await primary.stop_app(AppInput(site=places.site("primary"), app=places.app(), epoch=1))
    assert stopped.outcome == {"db1": "stopped"} and stopped.outside == {"db1": [stray.pid]}
    assert stray.wait(timeout=5) is not None and not port_open(port)
    [after] = await primary.replication(places.replication("dr", "primary"))
    assert after.serving == [] and "did not start" not in after.detail

    failed_back = await primary.launch(places.launch("primary", "dr", "standby/shop/failback", back, epoch=1))
    assert [o["item"] for o in get_orders(failed_back.port)] == ["a", "b"]
    assert recovered.port != failed_back.port



async def test_status_of_every_machine_at_both_sites_reads_the_processes_once(places: Places, monkeypatch) -> None:
    """A drain and each protection round ask for status: one pass over the processes, whatever the machines."""
    port = places.port("dr")
    stray = places.stranger("-m", "sampleapp.db", "--port", str(port), "--data", str(places.layout.data("dr", "db1")),
                            port=port)
    passes = []
    real = procfs.each

    def counted():
        passes.append(1)
        return real()

    monkeypatch.setattr(procfs, "each", counted)  # a spy: the real pass runs, counted
    paused = places.replication("dr", "primary", apps=("db", "api", "web")).model_copy(update={"copy_data": False})

    states = await places.providers["primary"].replication(paused)

    assert len(passes) == 1, f"{len(passes)} passes over the processes for one status"
    assert [state.machine for state in states] == ["db1", "app1", "web1"]
    [db1] = [state for state in states if state.machine == "db1"]
    assert [(s.pid, s.site, s.started_by_standby) for s in db1.serving] == [(stray.pid, "dr", False)]
    assert "serves db1 at dr but Standby did not start it" in db1.detail
    assert all(state.serving == [] for state in states if state.machine != "db1")
