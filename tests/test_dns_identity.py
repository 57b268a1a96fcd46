"""The runbook's `dns:` block, which addresses a record points to at each site, and `standby doctor`'s DNS lines."""

import dns.message
import dns.rcode
import pytest
from pydantic import ValidationError

from activities.dns.doctor import checks
from activities.dns.identity import record_addresses
from activities.dns.rfc2136 import checked
from activities.sites.base import PermanentProviderError, ProviderError
from standby.contracts.sites import app_ref, site_ref
from standby.runbook import DnsIdentity, Runbook
from tests.named_fixture import KEY, OTHER_SECRET, SECRET, ZONE, Bind, bind_fixture, free_udp_tcp_port  # noqa: F401

DNS = {"server": "127.0.0.1", "zone": ZONE, "tsig_key": KEY}


def shop(dr: dict, machines: dict | None = None) -> Runbook:
    """A local primary and a site `dr` as given; app web on machines web1 and web2."""
    return Runbook.model_validate({
        "runbook": "shop", "sites": {"primary": {"provider": "local", "dns": DNS}, "dr": dr},
        "protection": {"source": "primary", "target": "dr"},
        "machines": machines or {"web1": {}, "web2": {}},
        "apps": {"web": {"machines": ["web1", "web2"], "endpoint": f"web.{ZONE}", "start": ["./web"]}},
        "groups": [{"name": "front", "apps": ["web"]}],
    })


def addresses(runbook: Runbook, site: str, reported: dict | None = None) -> list[str]:
    return record_addresses(site_ref(runbook, site), app_ref(runbook, "web"), reported or {})


VSPHERE = {"provider": "vsphere", "host": "vc-dr.example.org", "datacenter": "DR", "dns": DNS}


def test_the_secret_variable_is_the_key_name_upper_cased_with_underscores() -> None:
    assert DnsIdentity.model_validate({**DNS, "tsig_key": "standby-dr.example.org."}).secret_variable() == \
        "STANDBY_TSIG_STANDBY_DR_EXAMPLE_ORG"


def test_a_secret_in_the_runbook_is_refused() -> None:
    with pytest.raises(ValidationError, match="secret"):
        DnsIdentity.model_validate({**DNS, "secret": SECRET})


def test_the_server_is_an_address_not_a_host_name() -> None:
    with pytest.raises(ValidationError, match="server"):
        DnsIdentity.model_validate({**DNS, "server": "ns1.example.org"})


def test_a_local_site_points_records_at_127_0_0_1() -> None:
    assert addresses(shop(VSPHERE), "primary") == ["127.0.0.1"]


def test_a_site_with_addresses_points_every_record_at_them() -> None:
    runbook = shop({**VSPHERE, "dns": {**DNS, "addresses": ["203.0.113.80", "2001:db8::80"]}})
    assert addresses(runbook, "dr") == ["2001:db8::80", "203.0.113.80"]


def test_a_vsphere_site_uses_the_declared_address_else_the_guest_ip() -> None:
    runbook = shop(VSPHERE, {"web1": {"at": {"dr": {"ip": {"address": "198.51.100.21"}}}}, "web2": {}})
    assert addresses(runbook, "dr", {"web1": "10.0.0.99", "web2": "198.51.100.22"}) == \
        ["198.51.100.21", "198.51.100.22"]


def test_a_vsphere_machine_without_any_address_yet_is_retryable() -> None:
    with pytest.raises(ProviderError, match=r"no address for machine web2 at site dr yet: declare "
                                            r"machines\.web2\.at\.dr\.ip") as raised:
        addresses(shop(VSPHERE), "dr", {"web1": "198.51.100.21", "web2": None})
    assert not isinstance(raised.value, PermanentProviderError)


@pytest.mark.parametrize(("rcode", "permanent"), [(dns.rcode.SERVFAIL, False), (dns.rcode.REFUSED, True),
                                                  (dns.rcode.NOTZONE, True)])
def test_update_answers_map_to_retry_semantics(rcode: dns.rcode.Rcode, permanent: bool) -> None:
    response = dns.message.make_response(dns.message.make_query(ZONE, "SOA"))
    response.set_rcode(rcode)
    with pytest.raises(ProviderError, match=f"answered {dns.rcode.to_text(rcode)}.*\\[here\\]") as raised:
        checked(response, "here")
    assert isinstance(raised.value, PermanentProviderError) is permanent


def doctor_site(bind: Bind, **extra: object):
    runbook = shop({**VSPHERE, "dns": {**DNS, "port": bind.primary.port, **extra}})
    return site_ref(runbook, "dr")


def test_doctor_passes_with_the_right_key_and_serving_name_servers(bind: Bind) -> None:
    site = doctor_site(bind, wait_for=[{"address": "127.0.0.1", "port": bind.secondary.port}])
    found = checks(site, {"STANDBY_TSIG_STANDBY_DR": SECRET})
    assert [(c.name, c.ok) for c in found] == [("dns.tsig_key", True), ("dns.server", True), ("dns.tsig", True),
                                              ("dns.wait_for[0]", True)]
    assert f"127.0.0.1:{bind.primary.port} serves zone {ZONE} (serial" in found[1].detail


def test_doctor_names_a_wrong_secret_without_showing_it(bind: Bind) -> None:
    found = {c.name: c for c in checks(doctor_site(bind), {"STANDBY_TSIG_STANDBY_DR": OTHER_SECRET})}
    assert found["dns.tsig_key"].ok and found["dns.server"].ok and not found["dns.tsig"].ok
    assert "BADSIG" in found["dns.tsig"].detail
    assert all(OTHER_SECRET not in c.detail and SECRET not in c.detail for c in found.values())


def test_doctor_without_the_secret_says_which_variable_to_set(bind: Bind) -> None:
    found = {c.name: c for c in checks(doctor_site(bind), {})}
    assert not found["dns.tsig_key"].ok and "no STANDBY_TSIG_STANDBY_DR" in found["dns.tsig_key"].detail
    assert found["dns.server"].ok and "dns.tsig" not in found


def test_doctor_reports_a_server_that_does_not_answer() -> None:
    runbook = shop({**VSPHERE, "dns": {**DNS, "port": free_udp_tcp_port()}})
    found = {c.name: c for c in checks(site_ref(runbook, "dr"), {"STANDBY_TSIG_STANDBY_DR": SECRET})}
    assert not found["dns.server"].ok and "dns.tsig" not in found


def test_doctor_has_nothing_to_check_without_a_dns_block() -> None:
    runbook = shop({"provider": "vsphere", "host": "vc-dr.example.org", "datacenter": "DR"})
    assert checks(site_ref(runbook, "dr"), {}) == []
