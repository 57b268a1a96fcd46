"""Sites are places: a site's files live at its `path:`, where every worker, whatever its state folder, finds them."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.sites.local.processes import running_pid
from sampleapp.db import LOG_NAME, read_log
from standby.issues import RunbookError
from standby.loader import load
from tests.helpers import get_orders
from tests.local.places import Places


async def test_the_dr_worker_replicates_from_primarys_path_and_launches_into_its_own(places: Places) -> None:
    source = await places.start_db("primary", ("a", "b"))
    primary_data = places.root / "sites" / "primary" / "machines" / "db1" / "data"
    assert (primary_data / LOG_NAME).exists(), "primary's db does not keep its data at primary's path"

    # the dr provider's state folder is its own: it holds nothing of primary, yet the pass finds primary's data
    point = await places.point("primary", "dr")
    target = await places.providers["dr"].launch(places.launch("dr", "primary", "standby/shop/failover", point))

    assert [o["item"] for o in get_orders(target.port)] == ["a", "b"]
    dr_machine = places.root / "sites" / "dr" / "machines" / "db1"
    assert [o["item"] for o in read_log(dr_machine / "data" / LOG_NAME)[0]] == ["a", "b"]
    assert running_pid(dr_machine / "machine.pid") is not None
    assert (places.root / "sites" / "dr" / "launches.log").exists()
    assert source.port != target.port
    for name in ("primary", "dr"):
        state = places.root / f"state-{name}"
        assert not state.exists() or not any(state.rglob("*")), f"the {name} worker wrote into its state folder"


async def test_status_is_read_from_the_site_path_by_either_worker(places: Places, tmp_path: Path) -> None:
    await places.start_db("primary", ("a",))
    await places.point("primary", "dr")
    # a second dr worker, started later with another state folder, sees the same points and last pass
    from activities.sites.local.provider import LocalSiteProvider

    other = LocalSiteProvider(places.site("dr"), tmp_path / "another-state")
    [state] = await other.replication(places.replication("primary", "dr"))
    assert state.phase == "continuous" and state.points == 1


def test_a_relative_site_path_is_refused_with_the_place_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "relative.yaml"
    path.write_text("""runbook: t
sites:
  primary: {provider: local, path: sites/primary}
  dr: {provider: local}
protection: {source: primary, target: dr}
machines: {m1: {}}
apps: {a: {machines: [m1], start: [x]}}
groups: [{name: g, apps: [a]}]
""")
    with pytest.raises(RunbookError) as raised:
        load(path)
    message = str(raised.value)
    assert "3:" in message and "sites.primary.path" in message
    assert "'sites/primary' is relative; give an absolute folder" in message
