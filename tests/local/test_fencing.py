"""Fencing: the endpoint proxy (a real process) and the provider refuse a route, launch or start of an older epoch."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from activities.sites.base import PermanentProviderError
from activities.sites.local.endpoint import ensure_proxy, move_endpoint, read_route, write_route
from activities.sites.local.fencing import StaleEpoch
from activities.sites.local.processes import free_port, read_pid_file, start_process, stop_process, wait_for_port
from activities.sites.local.usage import listeners
from standby.contracts.sites import AppInput
from tests.helpers import eventually, get_json, post_order
from tests.local.places import Places
from tests.local.test_endpoint import fetch


@dataclass(frozen=True)
class TwoSites:
    """Two sites' route files for one app, and a backend at each answering its site's name."""

    run: Path
    primary: Path
    dr: Path
    ports: dict[str, int]

    def proxy(self, listen: int) -> int:
        return ensure_proxy(listen, [self.primary, self.dr], self.run / "proxy.pid", self.run / "proxy.log")


@pytest.fixture
def two_sites(tmp_path: Path) -> Iterator[TwoSites]:
    ports = {}
    for name in ("primary", "dr"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.html").write_text(name)
        ports[name] = free_port()
        argv = [sys.executable, "-m", "http.server", str(ports[name]), "--bind", "127.0.0.1",
                "--directory", str(tmp_path / name)]
        start_process(argv, pid_file=tmp_path / f"{name}.pid", log_file=tmp_path / f"{name}.log")
        wait_for_port(ports[name], timeout=10)
    routes = [tmp_path / name / "endpoints" / "shop.route" for name in ("primary", "dr")]
    yield TwoSites(tmp_path, *routes, ports)
    for pid_file in tmp_path.glob("*.pid"):
        stop_process(pid_file, timeout=2)


def test_the_proxy_serves_the_newest_epoch_and_a_stale_write_is_refused(two_sites: TwoSites) -> None:
    listen = free_port()
    write_route(two_sites.primary, [two_sites.ports["primary"]], epoch=1)
    two_sites.proxy(listen)
    assert fetch(listen) == "primary"

    assert move_endpoint(two_sites.dr, [two_sites.ports["dr"]], 5, epoch=2, peers=[two_sites.primary]).applied
    assert fetch(listen) == "dr"

    with pytest.raises(StaleEpoch, match=rf"stale epoch 1 < 2: the route in {two_sites.dr} holds epoch 2"):
        move_endpoint(two_sites.primary, [two_sites.ports["primary"]], 5, epoch=1, peers=[two_sites.dr])
    assert read_route(two_sites.primary).epoch == 1, "the refused route was written"
    assert fetch(listen) == "dr"

    # equal epoch replaces it
    assert move_endpoint(two_sites.primary, [two_sites.ports["primary"]], 5, epoch=2, peers=[two_sites.dr]).applied
    assert fetch(listen) == "primary"


def test_the_proxy_itself_refuses_a_route_of_an_older_epoch_written_behind_its_back(two_sites: TwoSites) -> None:
    """A fenced site that skips the check and rewrites its own file (newest generation, old epoch) is not served."""
    listen = free_port()
    write_route(two_sites.primary, [two_sites.ports["primary"]], epoch=1)
    two_sites.proxy(listen)
    move_endpoint(two_sites.dr, [two_sites.ports["dr"]], 5, epoch=2, peers=[two_sites.primary])

    two_sites.primary.write_text(json.dumps({"epoch": 1, "generation": 99, "backends": [two_sites.ports["primary"]]}))
    log = two_sites.run / "proxy.log"
    eventually(lambda: "refused the route of epoch 1 generation 99" in log.read_text(), 5)
    assert {fetch(listen) for _ in range(5)} == {"dr"}

    # nor once the newer route's file is gone: the proxy never goes back to an older epoch
    two_sites.dr.unlink()
    two_sites.primary.write_text(json.dumps({"epoch": 1, "generation": 100, "backends": [two_sites.ports["primary"]]}))
    eventually(lambda: "refused the route of epoch 1 generation 100" in log.read_text(), 5)
    assert {fetch(listen) for _ in range(5)} == {"dr"}


def test_a_restarted_proxy_follows_the_newest_route_and_an_unreadable_site_is_skipped(two_sites: TwoSites) -> None:
    listen = free_port()
    write_route(two_sites.dr, [two_sites.ports["dr"]], epoch=3)
    write_route(two_sites.primary, [two_sites.ports["primary"]], epoch=2)
    two_sites.dr.parent.parent.rename(two_sites.run / "dr-lost")  # dr's folder is gone
    two_sites.dr.parent.parent.symlink_to(two_sites.dr.parent.parent)  # and its path now loops: unreadable
    two_sites.proxy(listen)
    assert fetch(listen) == "primary"


async def test_move_identity_of_a_stale_epoch_is_refused_for_good(places: Places) -> None:
    primary_db = await places.start_db("primary", ("a",))
    point = await places.point("primary", "dr")
    dr_db = await places.providers["dr"].launch(places.launch("dr", "primary", "standby/shop/failover", point,
                                                              epoch=2))
    post_order(dr_db.port, "at dr")  # dr serves 2 orders, primary 1
    await places.providers["primary"].move_identity(places.identity("primary", [primary_db], epoch=1))
    public = places.runbook.apps["db"].endpoint.port
    assert get_json(public, "/health")["orders"] == 1

    await places.providers["dr"].move_identity(places.identity("dr", [dr_db], epoch=2))
    assert get_json(public, "/health")["orders"] == 2
    with pytest.raises(PermanentProviderError, match=r"stale epoch 1 < 2: .* \[site=primary"):
        await places.providers["primary"].move_identity(places.identity("primary", [primary_db], epoch=1))
    assert get_json(public, "/health")["orders"] == 2
    # the proxy primary started follows dr's route too (peers), so dr needed no takeover
    started_by_primary = read_pid_file(places.layout.route("primary", "db").with_suffix(".pid"))
    assert listeners({public})[public].pid == started_by_primary.pid

    # with no proxy running, the route of dr (read through the peers) still refuses the stale epoch
    os.kill(listeners({public})[public].pid, signal.SIGKILL)
    eventually(lambda: public not in listeners({public}), 5)
    with pytest.raises(PermanentProviderError, match=r"stale epoch 1 < 2"):
        await places.providers["primary"].move_identity(places.identity("primary", [primary_db], epoch=1))
    assert public not in listeners({public}), "a stale move started a proxy"


async def test_launch_and_start_of_an_older_epoch_than_the_site_or_the_endpoint_are_refused(places: Places) -> None:
    primary_db = await places.start_db("primary", ("a",), epoch=1)
    point = await places.point("primary", "dr")
    dr_db = await places.providers["dr"].launch(places.launch("dr", "primary", "standby/shop/failover", point,
                                                              epoch=2))
    await places.providers["dr"].move_identity(places.identity("dr", [dr_db], epoch=2))
    await places.providers["primary"].stop_app(AppInput(site=places.site("primary"), app=places.app()))

    # primary never saw epoch 2, but dr's route says it: a stale failback at primary is refused
    back = await places.point("dr", "primary")
    with pytest.raises(PermanentProviderError, match=r"stale epoch 1 < 2: db at primary"):
        await places.providers["primary"].launch(places.launch("primary", "dr", "standby/shop/failback", back,
                                                               epoch=1))
    assert not places.layout.target("primary", "standby/shop/failback", "db1").exists()
    with pytest.raises(PermanentProviderError, match=r"stale epoch 1 < 2: db at dr"):
        await places.start_db("dr", epoch=1)
    assert get_json(dr_db.port, "/health")["orders"] == 1
    assert primary_db.port != dr_db.port


async def test_without_peers_a_site_takes_the_proxy_over_and_the_stale_site_stays_refused(places: Places) -> None:
    """Inputs without `peers`: dr replaces primary's proxy by one following both routes, which fences primary."""
    primary_db = await places.start_db("primary", ("a",))
    point = await places.point("primary", "dr")
    dr_db = await places.providers["dr"].launch(places.launch("dr", "primary", "standby/shop/failover", point,
                                                              epoch=2))
    post_order(dr_db.port, "at dr")
    public = places.runbook.apps["db"].endpoint.port
    await places.providers["primary"].move_identity(places.identity("primary", [primary_db], epoch=1, peers=False))
    first = listeners({public})[public].pid

    await places.providers["dr"].move_identity(places.identity("dr", [dr_db], epoch=2, peers=False))

    assert listeners({public})[public].pid != first and get_json(public, "/health")["orders"] == 2
    with pytest.raises(PermanentProviderError, match=r"stale epoch 1 < 2"):
        await places.providers["primary"].move_identity(places.identity("primary", [primary_db], epoch=1,
                                                                        peers=False))
    assert get_json(public, "/health")["orders"] == 2
