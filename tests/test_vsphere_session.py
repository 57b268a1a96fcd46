"""vSphere sessions and errors against vcsim: credentials, TLS, renewal, faults mapped to retry semantics."""

from __future__ import annotations

import pytest

from activities.sites.base import PermanentProviderError, ProviderError
from activities.sites.vsphere.provider import VsphereSiteProvider
from activities.sites.vsphere.session import SessionPool, credentials
from standby.contracts.sites import AppInput, AppRef, MachineRef, SiteRef
from standby.runbook import App, Machine, VsphereSite
from tests.vcsim_fixture import PASSWORD, USER, Vcsim


def provider(server: Vcsim, dc: str = "DC0", pool: SessionPool | None = None, **extra) -> VsphereSiteProvider:
    ref = SiteRef(runbook="erp", name="dr", config=VsphereSite(**server.site(dc, **extra)))
    return VsphereSiteProvider(ref, sessions=pool or SessionPool())


def app_input(p: VsphereSiteProvider, *vms: str) -> AppInput:
    machines = [MachineRef(name=vm, index=i, config=Machine(source_id=vm)) for i, vm in enumerate(vms)]
    return AppInput(site=p.site, app=AppRef(name="app", config=App(machines=list(vms), stop_timeout="1s"),
                                            machines=machines))


async def test_credentials_come_from_the_worker_environment_or_a_file(vcsim: Vcsim, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("VSPHERE_USER", raising=False)
    monkeypatch.delenv("VSPHERE_PASSWORD", raising=False)
    with pytest.raises(PermanentProviderError, match="set VSPHERE_USER and VSPHERE_PASSWORD"):
        await provider(vcsim).vc.datacenter()

    secret = tmp_path / "vc-dr.ini"
    secret.write_text(f"[vcenter]\nuser = {USER}\npassword = {PASSWORD}\n")
    p = provider(vcsim, credentials_file=str(secret))
    assert (await p.vc.datacenter()).name == "DC0"
    assert PASSWORD not in repr(credentials(p.config))

    secret.write_text(f"user = {USER}\npassword = wrong\n")
    with pytest.raises(PermanentProviderError, match=r"invalid login; check the site's credentials_file.*"
                                                     r"\[site=dr, vcenter=127.0.0.1:\d+\]") as denied:
        await provider(vcsim, credentials_file=str(secret)).vc.datacenter()
    assert "wrong" not in str(denied.value)
    with pytest.raises(PermanentProviderError, match="cannot read credentials file .*missing.ini"):
        await provider(vcsim, credentials_file=str(tmp_path / "missing.ini")).vc.datacenter()


@pytest.mark.usefixtures("vsphere_env")
async def test_one_session_per_vcenter_renewed_when_it_expires(vcsim: Vcsim) -> None:
    pool = SessionPool()
    dc = vcsim.datacenter()
    vcsim.add_portgroup(dc, "prod")
    vcsim.create_vm(dc, "erp-db-01", "prod")
    first, second = provider(vcsim, dc, pool), provider(vcsim, dc, pool)
    await first.start_app(app_input(first, "erp-db-01"))
    await second.stop_app(app_input(second, "erp-db-01"))
    session = first.vc.session
    assert session is second.vc.session and session.logins == 1

    key = await session.run(lambda content: content.sessionManager.currentSession.key, "read session", "test")
    vcsim.admin.sessionManager.TerminateSession([key])  # as an idle timeout or an administrator would
    outcome = await first.start_app(app_input(first, "erp-db-01"))
    assert outcome[0].launched and session.logins == 2
    new_key = await session.run(lambda content: content.sessionManager.currentSession.key, "read session", "test")
    assert new_key != key


@pytest.mark.usefixtures("vsphere_env")
async def test_faults_map_to_retry_semantics_once_with_site_vcenter_and_vm(vcsim: Vcsim) -> None:
    dc = vcsim.datacenter()
    vcsim.add_portgroup(dc, "prod")
    locked = vcsim.create_vm(dc, "erp-locked", "prod")
    busy = vcsim.create_vm(dc, "erp-busy", "prod", power_on=True)
    p = provider(vcsim, dc)

    vcsim.inject(locked, "PowerOnVM_Task", "NoPermission")
    with pytest.raises(PermanentProviderError, match=r"power on failed: NoPermission: privilege "
                                                     r"VirtualMachine.Interact.PowerOn missing.*vm=erp-locked\]"):
        await p.start_app(app_input(p, "erp-locked"))

    vcsim.inject(busy, "PowerOffVM_Task", "TaskInProgress")
    with pytest.raises(ProviderError, match=r"power off failed: TaskInProgress.*vm=erp-busy\]") as busy_error:
        await p.vc.task(lambda _: busy.PowerOffVM_Task(), "power off", "erp-busy")
    assert not isinstance(busy_error.value, PermanentProviderError)
    # the retry the activity's policy makes goes through
    assert (await p.stop_app(app_input(p, "erp-busy"))).outcome == {"erp-busy": "stopped"}

    with pytest.raises(PermanentProviderError, match=r"datacenter NoSuchDC not found \[site=dr"):
        await provider(vcsim, "NoSuchDC").vc.datacenter()


@pytest.mark.usefixtures("vsphere_env")
async def test_tls_is_verified_unless_the_site_opts_out(vcsim_tls: Vcsim) -> None:
    with pytest.raises(PermanentProviderError, match="certificate is not trusted .*give the site a ca_file, or set "
                                                     "insecure: true"):
        await provider(vcsim_tls).vc.datacenter()
    assert (await provider(vcsim_tls, ca_file=vcsim_tls.cafile).vc.datacenter()).name == "DC0"
    assert (await provider(vcsim_tls, insecure=True).vc.datacenter()).name == "DC0"


async def test_doctor_checks_a_vsphere_site(vcsim: Vcsim, tmp_path) -> None:
    from activities.sites.vsphere.doctor import PRIVILEGES, doctor_checks

    dc = vcsim.datacenter()
    vcsim.add_portgroup(dc, "bubble")
    secret = tmp_path / "vc.ini"
    secret.write_text(f"user = {USER}\npassword = {PASSWORD}\n")
    secret.chmod(0o600)
    good = SiteRef(runbook="erp", name="dr", config=VsphereSite(**vcsim.site(
        dc, credentials_file=str(secret), isolated_network="bubble", datastore="LocalDS_1")))
    checks = {c.name: c for c in doctor_checks(good, SessionPool())}
    assert all(c.ok for name, c in checks.items() if name != "tls"), checks
    assert set(checks) == {"credentials", "tls", "login", "cluster", "isolated_network", "datastore", "privileges"}
    assert not checks["tls"].ok and "vcsim" in checks["tls"].detail
    # every privilege the README asks for is one vCenter knows (its Admin role holds them all)
    catalog = {p for role in vcsim.admin.authorizationManager.roleList if role.name == "Admin" for p in role.privilege}
    assert set(PRIVILEGES) <= catalog, set(PRIVILEGES) - catalog

    secret.chmod(0o644)
    bad = SiteRef(runbook="erp", name="dr", config=VsphereSite(**vcsim.site(
        dc, credentials_file=str(secret), isolated_network="no-such-pg", networks={"a": "nowhere"})))
    first = doctor_checks(bad, SessionPool())
    assert [c.name for c in first] == ["credentials"] and "chmod 600" in first[0].detail
    secret.chmod(0o600)
    failed = {c.name: c for c in doctor_checks(bad, SessionPool()) if not c.ok}
    assert set(failed) == {"tls", "isolated_network", "networks.a"}
    assert "port group no-such-pg" in failed["isolated_network"].detail
