"""`standby discover`: what a vSphere site (vcsim) or an AWS site (DRS stubbed against its service model) has,
written as a runbook skeleton that `standby validate` accepts, with TODOs for what could not be inferred."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pyVmomi import vim

from activities.sites.aws.discover import discover as discover_aws
from standby.cli import main
from standby.contracts.sites import SiteRef
from standby.discovery import Filters, read_site_file, skeleton
from standby.loader import check
from tests.aws_support import REGIONS, Backends
from tests.vcsim_fixture import Vcsim
from tests.vcsim_fixture import wait as vcsim_wait


def standby(*args: str):
    return CliRunner().invoke(main, list(args))


def erp_vcenter(vcsim: Vcsim) -> str:
    """A datacenter with folder ERP (a Linux db, a Windows app with custom attribute app=erp) and a VM outside it."""
    dc = vcsim.datacenter()
    vcsim.add_portgroup(dc, "prod")
    folder = vcsim._dc(dc).vmFolder.CreateFolder("ERP")
    db = vcsim.create_vm(dc, f"{dc}-erp-db", "prod")
    app = vcsim.create_vm(dc, f"{dc}-erp-app", "prod", guest_id="windows9Server64Guest")
    vcsim.create_vm(dc, f"{dc}-mail", "prod")
    vcsim_wait(folder.MoveIntoFolder_Task([db, app]))
    fields = vcsim.admin.customFieldsManager
    field = next((f for f in fields.field or [] if f.name == "app"), None) or fields.AddCustomFieldDef(
        name="app", moType=vim.VirtualMachine)
    fields.SetField(entity=app, key=field.key, value="erp")
    return dc


def site_file(tmp_path: Path, sites: dict) -> Path:
    path = tmp_path / "sites.yaml"
    path.write_text(yaml.safe_dump({"sites": sites}, sort_keys=False))
    return path


@pytest.mark.usefixtures("vsphere_env")
def test_vsphere_vms_of_a_folder_become_a_skeleton_that_validates(vcsim: Vcsim, tmp_path: Path) -> None:
    dc = erp_vcenter(vcsim)
    sites = site_file(tmp_path, {"hq": vcsim.site(dc), "dr": {**vcsim.site(vcsim.datacenter())}})
    written = tmp_path / "machines.yaml"
    ran = standby("discover", str(sites), "--site", "hq", "--folder", "ERP", "-o", str(written))
    assert ran.exit_code == 0, ran.output
    runbook, issues = check(written)
    assert runbook is not None and [i for i in issues if i.severity == "error"] == [], issues
    assert sorted(runbook.machines) == [f"{dc}-erp-app", f"{dc}-erp-db"]  # not the mail VM outside the folder
    assert (runbook.protection.source, runbook.protection.target) == ("hq", "dr")
    assert runbook.machines[f"{dc}-erp-app"].at["dr"].guest_os == "windows"
    text = written.read_text()
    assert "# TODO: health (tcp, http or command), endpoint, depends_on" in text and "# TODO: priority groups" in text
    assert "windows9Server64Guest" in text and "app=erp" in text


@pytest.mark.usefixtures("vsphere_env")
def test_vsphere_custom_attributes_filter_what_is_listed(vcsim: Vcsim, tmp_path: Path) -> None:
    dc = erp_vcenter(vcsim)
    sites = site_file(tmp_path, {"hq": vcsim.site(dc), "dr": vcsim.site(vcsim.datacenter())})
    ran = standby("discover", str(sites), "--site", "hq", "--tag", "app=erp")
    assert ran.exit_code == 0, ran.output
    assert list(yaml.safe_load(ran.output)["machines"]) == [f"{dc}-erp-app"]
    missing = standby("discover", str(sites), "--site", "hq", "--folder", "NoSuchFolder")
    assert missing.exit_code == 1 and "NoSuchFolder" in missing.output


def test_aws_source_servers_become_a_skeleton_with_dr_as_the_recovery_site(aws: str, tmp_path: Path) -> None:
    backends = Backends(aws)
    backends.world.add_server(REGIONS[1], hostname="shop-db-01", tags={"app": "shop"})
    backends.world.add_server(REGIONS[1], tags={"Name": "shop-web-01", "app": "shop"})
    backends.world.add_server(REGIONS[1], hostname="hr-db", tags={"app": "hr"})
    backends.world.add_server(REGIONS[1], hostname="shop-db-01", tags={"app": "shop"}, direction="FAILBACK")
    sites = read_site_file(site_file(tmp_path, {"source": {"provider": "aws", "region": REGIONS[0]},
                                                "dr": {"provider": "aws", "region": REGIONS[1]}}))
    site = SiteRef(runbook=sites.name, name="dr", config=sites.parsed["dr"])
    found = discover_aws(site, Filters(tags={"app": "shop"}), backends.clients[REGIONS[1]])
    assert [(m.name, m.source_id.startswith("s-")) for m in found] == [("shop-db-01", True), ("shop-web-01", True)]
    assert backends.problems() == []
    written = tmp_path / "aws.yaml"
    written.write_text(skeleton(sites, "dr", found, Filters(tags={"app": "shop"}), "sites.yaml", "target"))
    runbook, issues = check(written)
    assert runbook is not None and [i for i in issues if i.severity == "error"] == [], issues
    assert (runbook.protection.source, runbook.protection.target) == ("source", "dr")
    assert {m.source_id for m in runbook.machines.values()} == {m.source_id for m in found}
    assert "# TODO: blueprint (machine_type, subnet, security_groups)" in written.read_text()


def test_a_local_site_has_nothing_to_discover_and_says_so(tmp_path: Path) -> None:
    sites = site_file(tmp_path, {"primary": {"provider": "local"}, "dr": {"provider": "local", "port_base": 18200}})
    ran = standby("discover", str(sites), "--site", "primary")
    assert ran.exit_code == 1 and "nothing to discover" in ran.output


def test_usage_errors_name_the_fix(tmp_path: Path) -> None:
    sites = site_file(tmp_path, {"source": {"provider": "aws", "region": REGIONS[0]},
                                 "dr": {"provider": "aws", "region": REGIONS[1]}})
    folder = standby("discover", str(sites), "--site", "dr", "--folder", "ERP")
    assert folder.exit_code == 2 and "--folder lists vSphere VM folders; site 'dr' has provider aws" in folder.output
    unknown = standby("discover", str(sites), "--site", "drr")
    assert unknown.exit_code == 2 and "unknown site 'drr' (did you mean 'dr'?)" in unknown.output
    other = standby("discover", str(sites), "--site", "branch")
    assert other.exit_code == 2 and "unknown site 'branch'; it has source, dr" in other.output
    tag = standby("discover", str(sites), "--site", "dr", "--tag", "app")
    assert tag.exit_code == 2 and "write each tag as KEY=VALUE" in tag.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites: {dr: {provider: aws}}\n")
    refused = standby("discover", str(bad), "--site", "dr")
    assert refused.exit_code == 1 and "sites.dr.aws.region: Field required" in refused.output
