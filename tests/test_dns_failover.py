"""Providers move DNS records in a real `named` (RFC 2136, TSIG): a local-site failover from the primary's address to
dr's, a vSphere recovery to its VM's address (vcsim); `standby doctor` checks each site's DNS. Every address is a
loopback one (127.0.0.x): nothing is sent anywhere else.
"""

from __future__ import annotations

import json
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
from click.testing import CliRunner

from activities.sites.vsphere.provider import VsphereSiteProvider
from standby.cli import main
from standby.contracts.sites import AppRef, IdentityInput, LaunchInput, PointsInput
from standby.runbook import App
from tests.named_fixture import KEY, SECRET, ZONE, Bind, bind_fixture  # noqa: F401
from tests.ops_helpers import request, result_answering, runbook_variant, start_protect, stop_workflows
from tests.test_vsphere_provider import machine, replication, site

ADDRESSES = {"primary": "127.0.0.2", "dr": "127.0.0.3"}


def served(bind: Bind, name: str) -> set[str]:
    """The A records the primary name server answers for `name`, asked directly."""
    response = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", timeout=2, port=bind.primary.port)
    found = next((r for r in response.answer if r.rdtype == dns.rdatatype.A), None)
    return {r.to_text() for r in found} if found is not None else set()


def with_dns(bind: Bind):
    """An edit of the shop: both sites move records in the test's zone, each to its own loopback address."""
    def edit(document: dict) -> None:
        for name, settings in document["sites"].items():
            settings["dns"] = {"server": "127.0.0.1", "port": bind.primary.port, "zone": ZONE, "tsig_key": KEY,
                           "addresses": [ADDRESSES[name]], "wait": "20s"}
        for app, spec in document["apps"].items():
            spec["endpoint"]["name"] = f"{app}-{document['runbook']}.{ZONE}"
    return edit


async def test_failover_moves_the_endpoint_record_to_dr_in_named(client, task_queue, worker, shop_file: Path,
                                                                 bind: Bind, monkeypatch) -> None:
    monkeypatch.setenv("STANDBY_TSIG_STANDBY_DR", SECRET)  # the worker's environment: the key's secret
    runbook = runbook_variant(shop_file, edit=with_dns(bind))
    web = runbook.apps["web"].endpoint.name
    owner = None
    try:
        owner = await start_protect(client, runbook, task_queue)
        assert served(bind, web) == {ADDRESSES["primary"]}  # brought up at the primary
        handle = await request(client, runbook, task_queue, "failover", yes=True, force=True)  # no drill first
        result = await result_answering(client, handle)
        assert result.state == "failed_over", result.error
        assert {app: served(bind, spec.endpoint.name) for app, spec in runbook.apps.items()} == \
            {app: {ADDRESSES["dr"]} for app in runbook.apps}
        assert next(s for s in result.steps if s.name == f"move {web} to dr").status == "done"
    finally:
        await stop_workflows(owner)


def doctor(path: Path, state_dir: Path, env: dict[str, str]) -> tuple[int, dict[str, dict]]:
    """`standby doctor --json` for site dr: its exit code and its DNS checks by name."""
    ran = CliRunner().invoke(main, ["doctor", str(path), "--site", "dr", "--json"],
                             env={**env, "STANDBY_STATE": str(state_dir)})
    checks = json.loads(ran.output[ran.output.index("["):ran.output.rindex("]") + 1])
    return ran.exit_code, {c["check"]: c for c in checks if c["check"].startswith("dns.")}


def test_doctor_checks_the_dns_of_each_site(shop_file: Path, bind: Bind, state_dir: Path) -> None:
    runbook = runbook_variant(shop_file, edit=with_dns(bind), name="dns-shop")
    path = shop_file.with_name(f"{runbook.runbook}.yaml")
    _, found = doctor(path, state_dir, {"STANDBY_TSIG_STANDBY_DR": SECRET})
    assert sorted(found) == ["dns.server", "dns.tsig", "dns.tsig_key"]
    assert all(c["ok"] for c in found.values()), found
    assert found["dns.server"]["detail"].startswith(f"127.0.0.1:{bind.primary.port} serves zone {ZONE}")
    code, missing = doctor(path, state_dir, {})
    assert code == 1 and not missing["dns.tsig_key"]["ok"]
    assert "has no STANDBY_TSIG_STANDBY_DR" in missing["dns.tsig_key"]["detail"]


pytestmark = pytest.mark.usefixtures("bind")


@pytest.mark.usefixtures("vsphere_env")
async def test_a_vsphere_recovery_moves_the_record_to_the_address_of_its_vm(vcsim, bind: Bind, monkeypatch) -> None:
    monkeypatch.setenv("STANDBY_TSIG_STANDBY_DR", SECRET)
    dc = vcsim.datacenter()
    vcsim.add_portgroup(dc, "erp-prod")
    vcsim.create_vm(dc, "erp-dns-01", "erp-prod")
    name = f"erp-dns-01.{ZONE}"
    dns_block = {"server": "127.0.0.1", "port": bind.primary.port, "zone": ZONE, "tsig_key": KEY, "wait": "20s"}
    db = machine("erp-dns-01", source_id="erp-dns-01", at={"dr": {"ip": {"address": "127.0.0.5"}}})
    dr = site(vcsim, dc, dns=dns_block)
    provider = VsphereSiteProvider(dr)
    await provider.replicate(replication(vcsim, dc, [db]))
    point = (await provider.recovery_points(PointsInput(source=dr, target=dr, machine=db)))[-1]
    ref = AppRef(name="db", config=App(machines=[db.name], endpoint=name), machines=[db])
    target = await provider.launch(LaunchInput(key="standby/erp/failover/dns", site=dr, source=dr, app=ref,
                                               machine=db, mode="recovery", point=point))
    said = await provider.move_identity(IdentityInput(runbook="erp", app=ref, site=dr, targets=[target], epoch=1))
    assert served(bind, name) == {"127.0.0.5"}
    assert f"{name} A 127.0.0.5 (TTL 60s) answered by 127.0.0.1:{bind.primary.port}" in said
