"""Fencing on vSphere against vcsim: stale epochs refused per VM, and a stop fails fast when the vCenter is gone."""

from __future__ import annotations

import time

import pytest

from activities.sites.base import PermanentProviderError, ProviderError
from activities.sites.vsphere.inventory import tags
from activities.sites.vsphere.provider import VsphereSiteProvider
from activities.sites.vsphere.session import SessionPool
from standby.contracts.sites import (
    AppInput,
    AppRef,
    IdentityInput,
    LaunchInput,
    MachineRef,
    PointsInput,
    ReplicationInput,
    SiteRef,
    TerminateInput,
)
from standby.runbook import App, Machine, VsphereSite
from tests.vcsim_fixture import PASSWORD, USER, Vcsim

pytestmark = pytest.mark.usefixtures("vsphere_env")
DB = MachineRef(name="erp-db-01", index=0, config=Machine(source_id="erp-db-01"))
APP = AppRef(name="db", config=App(machines=[DB.name], stop_timeout="1s"), machines=[DB])


def site(vcsim: Vcsim, dc: str, name: str = "dr") -> SiteRef:
    return SiteRef(runbook="erp", name=name, config=VsphereSite(**vcsim.site(dc)))


async def test_a_launch_or_move_of_an_older_epoch_is_refused(vcsim: Vcsim) -> None:
    dc = vcsim.datacenter()
    vcsim.add_portgroup(dc, "erp-prod")
    replica = vcsim.create_vm(dc, "erp-db-01", "erp-prod")
    dr = site(vcsim, dc)
    provider = VsphereSiteProvider(dr)
    await provider.replicate(ReplicationInput(source=dr, target=dr, machines=[DB], seconds=0))
    point = (await provider.recovery_points(PointsInput(source=dr, target=dr, machine=DB)))[-1]
    newer = LaunchInput(key="standby/erp/failover/run-2", site=dr, source=dr, app=APP, machine=DB, mode="recovery",
                        point=point, epoch=2)
    await provider.launch(newer)
    assert tags(replica.config.extraConfig)["epoch"] == "2"
    await provider.terminate(TerminateInput(site=dr, key=newer.key))  # powered off and unmarked, epoch kept
    assert replica.runtime.powerState == "poweredOff"

    with pytest.raises(PermanentProviderError, match=r"stale epoch 1 < 2: db at dr holds epoch 2.*vm=erp-db-01\]"):
        await provider.launch(newer.model_copy(update={"key": "standby/erp/failover/run-1", "epoch": 1}))
    assert replica.runtime.powerState == "poweredOff", "the stale launch must not power the replica on"
    assert "key" not in tags(replica.config.extraConfig)
    with pytest.raises(PermanentProviderError, match="stale epoch 1 < 2"):
        await provider.move_identity(IdentityInput(runbook="erp", app=APP, site=dr, epoch=1))
    with pytest.raises(PermanentProviderError, match="stale epoch 1 < 2"):
        await provider.start_app(AppInput(site=dr, app=APP, epoch=1))
    assert replica.runtime.powerState == "poweredOff"

    assert "erp-db-01" in await provider.move_identity(IdentityInput(runbook="erp", app=APP, site=dr, epoch=3))
    assert tags(replica.config.extraConfig)["epoch"] == "3"


async def test_stopping_at_a_stopped_vcenter_fails_retryably_and_fast(tmp_path) -> None:
    """The source's simulator is stopped after the worker logged in: the stop fails at once, naming the vCenter."""
    source = Vcsim("-dc", "1", "-username", USER, "-password", PASSWORD, scratch=tmp_path)
    try:
        source.add_portgroup("DC0", "erp-prod")
        source.create_vm("DC0", "erp-db-01", "erp-prod", power_on=True)
        provider = VsphereSiteProvider(site(source, "DC0", "hq"), sessions=SessionPool())
        assert (await provider.replication(ReplicationInput(source=provider.site, target=provider.site,
                                                            machines=[DB])))[0].phase == "creating_first_point"
    finally:
        source.stop()
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        await provider.stop_app(AppInput(site=provider.site, app=APP, epoch=2))
    took = time.monotonic() - started
    assert not isinstance(raised.value, PermanentProviderError), "a vCenter that is down may come back: retryable"
    assert f"site=hq, vcenter={source.host}:{source.port}" in str(raised.value), str(raised.value)
    assert "the vCenter does not answer" in str(raised.value) and took < 10, f"{raised.value} after {took:.1f}s"
