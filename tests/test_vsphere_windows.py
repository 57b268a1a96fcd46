"""Windows guests recovered on vSphere: Sysprep names, re-addresses and joins them (vcsim), passwords from the worker.

vcsim runs no guest: what it shows of a customization is the hostname and address it applies at power-on, from the
specification Standby sent (Sysprep's computer name, LinuxPrep's VM name). That Windows itself then joins the
domain needs a real vCenter with a Windows template.
"""

from __future__ import annotations

import pytest

from activities.sites.base import PermanentProviderError
from activities.sites.vsphere.guest import sysprep
from activities.sites.vsphere.provider import VsphereSiteProvider
from standby.contracts.sites import LaunchInput, MachineRef, PointsInput
from standby.runbook import WindowsIdentity
from tests.test_vsphere_provider import app, machine, replication, site
from tests.vcsim_fixture import Vcsim

pytestmark = pytest.mark.usefixtures("vsphere_env")
SECRET = "Adm1n-only-in-the-env"
WINDOWS = "windows9Server64Guest"


@pytest.fixture
def dr(vcsim: Vcsim) -> str:
    """A datacenter of this test's own with the production port group."""
    dc = vcsim.datacenter()
    vcsim.add_portgroup(dc, "erp-prod")
    return dc


async def recover(vcsim: Vcsim, dc: str, db: MachineRef) -> tuple[VsphereSiteProvider, LaunchInput]:
    """A recovery launch of `db` at dr from its newest point."""
    dr_site = site(vcsim, dc)
    provider = VsphereSiteProvider(dr_site)
    await provider.replicate(replication(vcsim, dc, [db]))
    point = (await provider.recovery_points(PointsInput(source=dr_site, target=dr_site, machine=db)))[-1]
    return provider, LaunchInput(key=f"standby/erp/failover/{db.name}", site=dr_site, source=site(vcsim, "DC0", "hq"),
                                 app=app("db", db), machine=db, mode="recovery", point=point)


async def test_a_windows_guest_is_named_and_addressed_by_sysprep(vcsim: Vcsim, dr: str, monkeypatch) -> None:
    monkeypatch.setenv("STANDBY_WINDOWS_ADMIN_PASSWORD", SECRET)
    replica = vcsim.create_vm(dr, "erp-sql-01", "erp-prod", guest_id=WINDOWS)
    db = machine("erp-sql-01", source_id="erp-sql-01",
                 at={"dr": {"ip": {"address": "10.20.1.30", "gateway": "10.20.1.1"}, "windows": {"workgroup": "ERP"}}})
    provider, inp = await recover(vcsim, dr, db)
    target = await provider.launch(inp)
    assert target.launched and target.address == "10.20.1.30"
    assert replica.guest.ipAddress == "10.20.1.30"
    assert replica.guest.hostName == "erp-sql-01"  # Sysprep's computer name: the machine's name


async def test_guest_os_windows_chooses_sysprep_for_a_vm_whose_guest_id_does_not_say(vcsim: Vcsim, dr: str,
                                                                                     monkeypatch) -> None:
    monkeypatch.setenv("STANDBY_WINDOWS_ADMIN_PASSWORD", SECRET)
    replica = vcsim.create_vm(dr, "erp-legacy-01", "erp-prod")  # guestId otherLinux64Guest
    db = machine("erp-legacy-01", source_id="erp-legacy-01",
                 at={"dr": {"guest_os": "windows", "windows": {"computer_name": "LEGACY01"}}})
    provider, inp = await recover(vcsim, dr, db)
    await provider.launch(inp)
    assert replica.guest.hostName == "LEGACY01"  # LinuxPrep would have named it after the VM


async def test_without_the_admin_password_nothing_is_customized_and_the_variable_is_named(vcsim: Vcsim, dr: str,
                                                                                          monkeypatch) -> None:
    monkeypatch.delenv("STANDBY_WINDOWS_ADMIN_PASSWORD", raising=False)
    replica = vcsim.create_vm(dr, "erp-sql-02", "erp-prod", guest_id=WINDOWS)
    db = machine("erp-sql-02", source_id="erp-sql-02", at={"dr": {"ip": {"address": "10.20.1.31"}}})
    provider, inp = await recover(vcsim, dr, db)
    with pytest.raises(PermanentProviderError, match="has no STANDBY_WINDOWS_ADMIN_PASSWORD; set it on the worker"):
        await provider.launch(inp)
    assert replica.runtime.powerState == "poweredOff"
    assert not replica.config.tools.pendingCustomization


def test_a_domain_join_takes_its_account_from_the_runbook_and_its_password_from_the_environment() -> None:
    windows = WindowsIdentity.model_validate({"domain": "corp.example.org", "domain_user": "svc-join",
                                              "domain_password": {"from_env": "JOIN_PASSWORD"}})
    env = {"STANDBY_WINDOWS_ADMIN_PASSWORD": SECRET, "JOIN_PASSWORD": "j0in-secret"}
    identity = sysprep("erp-sql-01", windows, env, "site=dr")
    joins = identity.identification
    assert (joins.joinDomain, joins.domainAdmin, joins.domainAdminPassword.value) == \
        ("corp.example.org", "svc-join", "j0in-secret")
    assert identity.guiUnattended.password.value == SECRET and identity.userData.computerName.name == "erp-sql-01"
    with pytest.raises(PermanentProviderError) as missing:
        sysprep("erp-sql-01", windows, {"STANDBY_WINDOWS_ADMIN_PASSWORD": SECRET}, "site=dr")
    assert "JOIN_PASSWORD" in str(missing.value) and SECRET not in str(missing.value)


def test_a_name_windows_cannot_take_asks_for_computer_name() -> None:
    with pytest.raises(PermanentProviderError, match="set windows.computer_name of machine erp-database-primary"):
        sysprep("erp-database-primary", WindowsIdentity(), {"STANDBY_WINDOWS_ADMIN_PASSWORD": SECRET}, "site=dr")


def test_a_workgroup_and_a_domain_at_once_are_refused() -> None:
    with pytest.raises(ValueError, match="a workgroup or a domain, not both"):
        WindowsIdentity.model_validate({"workgroup": "ERP", "domain": "corp.example.org", "domain_user": "svc",
                                        "domain_password": {"from_env": "X"}})
