"""Stopping a site that cannot be read or whose processes cannot be signalled: a retryable error, soon, never success.

Root reads every folder and signals every process, and these tests run as root: so the broken site is
a real symlink loop, or the stop runs in a forked child that dropped to the user nobody, against a
folder closed to it and processes that root started.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.sites.base import PermanentProviderError, ProviderError
from activities.sites.local.processes import is_running, port_open, running_pid
from standby.contracts.sites import AppInput
from tests.local.places import Places, close_places, open_places

NOBODY = 65534


@pytest.fixture
def open_root() -> Iterator[Path]:
    """A folder the user nobody may walk into (the test's own folder is closed to other users)."""
    root = Path(tempfile.mkdtemp(prefix="standby-stop-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def shared(shop_file: Path, open_root: Path) -> Iterator[Places]:
    shop = open_places(shop_file, open_root)
    yield shop
    for folder in open_root.rglob("*"):
        if folder.is_dir() and not folder.is_symlink():
            folder.chmod(0o755)
    close_places(shop)


def stop_as_nobody(places: Places, site: str, within: float = 30.0) -> dict:
    """Runs stop_app at a site in a child process with the uid of nobody; what it raised or returned."""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reader)
        outcome: dict = {}
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            inp = AppInput(site=places.site(site), app=places.app())
            outcome = {"result": asyncio.run(places.providers[site].stop_app(inp)).model_dump()}
        except BaseException as error:
            outcome = {"error": type(error).__name__, "message": str(error), "trace": traceback.format_exc()}
        finally:
            os.write(writer, json.dumps(outcome).encode())
            os._exit(0)
    os.close(writer)
    deadline = time.monotonic() + within
    while os.waitpid(child, os.WNOHANG) == (0, 0):
        if time.monotonic() >= deadline:
            os.kill(child, 9)
            os.waitpid(child, 0)
            raise AssertionError(f"stop_app did not return within {within}s")
        time.sleep(0.05)
    with os.fdopen(reader) as pipe:
        return json.loads(pipe.read())


def test_a_site_folder_nobody_may_read_is_a_retryable_error_not_a_stopped_app(shared: Places) -> None:
    db = asyncio.run(shared.start_db("primary", ("a",)))
    site = shared.root / "sites" / "primary"
    site.chmod(0o000)

    started = time.monotonic()
    outcome = stop_as_nobody(shared, "primary")

    assert outcome.get("error") == "ProviderError", outcome
    assert "Permission denied" in outcome["message"] and str(site) in outcome["message"]
    assert "cannot be sure db stopped at primary" in outcome["message"]
    assert "[site=primary" in outcome["message"]
    assert time.monotonic() - started < 15
    assert port_open(db.port), "nobody could not have stopped root's db"


def test_processes_that_cannot_be_signalled_are_a_retryable_error(shared: Places) -> None:
    asyncio.run(shared.start_db("primary", ("a",)))
    pid = running_pid(shared.layout.pid("primary", "db1"))
    for path in shared.root.rglob("*"):
        path.chmod(0o777 if path.is_dir() else 0o666)  # every file readable and lockable: only signals fail

    outcome = stop_as_nobody(shared, "primary")

    assert outcome.get("error") == "ProviderError", outcome
    assert f"cannot signal pid {pid}: Operation not permitted" in outcome["message"]
    assert is_running(shared.layout.pid("primary", "db1"))


async def test_a_broken_site_folder_still_stops_what_serves_it_and_says_it_cannot_be_sure(places: Places) -> None:
    db = await places.start_db("primary", ("a",))
    pid = running_pid(places.layout.pid("primary", "db1"))
    machine = places.layout.machine("primary", "db1")
    machine.rename(machine.with_name("db1-moved"))
    machine.symlink_to(machine)  # a loop: the site's folder cannot be read, as if its disk were gone

    with pytest.raises(ProviderError) as raised:
        await places.providers["primary"].stop_app(AppInput(site=places.site("primary"), app=places.app()))

    assert not isinstance(raised.value, PermanentProviderError), "the caller's deadline must decide, not one try"
    message = str(raised.value)
    assert "Too many levels of symbolic links" in message and str(machine) in message
    assert "db1: stopped" in message, message
    assert not port_open(db.port) and not Path(f"/proc/{pid}").exists()
    machine.unlink()
    machine.with_name("db1-moved").rename(machine)
