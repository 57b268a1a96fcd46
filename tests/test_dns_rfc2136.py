"""RFC 2136 network identity against a real BIND: records move and are read back, failures map to retry semantics."""

import asyncio
import uuid

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from activities.dns.identity import move_app_record
from activities.dns.rfc2136 import Rfc2136
from activities.sites.base import PermanentProviderError, ProviderError
from standby.contracts.sites import app_ref, site_ref
from standby.runbook import DnsIdentity, Runbook
from tests.named_fixture import KEY, LOCKED, OTHER_SECRET, SECRET, ZONE, Bind, bind_fixture, free_udp_tcp_port  # noqa: F401

ENV = {"STANDBY_TSIG_STANDBY_DR": SECRET}
HQ_DB, DR_DB = "192.0.2.10", "198.51.100.10"
SECRETS = (SECRET, OTHER_SECRET, "standby-test-secret", "other-test-secret")
POLL = 0.05


def fresh_name(zone: str = ZONE) -> str:
    """A record name no other test touches."""
    return f"db-{uuid.uuid4().hex[:8]}.{zone}"


def dns_block(bind: Bind, **extra: object) -> dict:
    """A site's `dns:` block for the primary of the fixture."""
    return {"server": "127.0.0.1", "port": bind.primary.port, "zone": ZONE, "tsig_key": KEY, **extra}


def erp(bind: Bind, name: str, dr: dict | None = None) -> Runbook:
    """Two vSphere sites moving db's record by RFC 2136; db's VM has a declared address at each site."""
    sites = {"hq": {"provider": "vsphere", "host": "vc-hq.example.org", "datacenter": "HQ", "dns": dns_block(bind)},
             "dr": {"provider": "vsphere", "host": "vc-dr.example.org", "datacenter": "DR",
                    "dns": dr if dr is not None else dns_block(bind)}}
    return Runbook.model_validate({
        "runbook": "erp", "sites": sites, "protection": {"source": "hq", "target": "dr"},
        "machines": {"erp-db-01": {"at": {"hq": {"ip": {"address": HQ_DB}}, "dr": {"ip": {"address": DR_DB}}}}},
        "apps": {"db": {"machines": ["erp-db-01"], "endpoint": {"name": name, "ttl": "45s"}}},
        "groups": [{"name": "data", "apps": ["db"]}],
    })


def served(port: int, name: str, kind: str = "A") -> tuple[set[str], int | None]:
    """What a name server answers for `name` (values and TTL), asked directly."""
    response = dns.query.udp(dns.message.make_query(name, kind), "127.0.0.1", timeout=2, port=port)
    found = next((r for r in response.answer if r.rdtype == dns.rdatatype.from_text(kind)), None)
    return ({r.to_text() for r in found}, found.ttl) if found is not None else (set(), None)


def assert_no_secret(error: BaseException) -> None:
    """Neither the key's secret nor the wrong one, base64 or decoded, in the error or its causes."""
    chain: BaseException | None = error
    while chain is not None:
        for secret in SECRETS:
            assert secret not in str(chain) and secret not in repr(chain)
        chain = chain.__cause__ or chain.__context__


async def move(bind: Bind, runbook: Runbook, site: str, env: dict[str, str] = ENV) -> str | None:
    return await move_app_record(site_ref(runbook, site), app_ref(runbook, "db"), env=env, poll=POLL)


async def test_failover_points_the_record_at_the_dr_address_with_the_endpoint_ttl(bind: Bind) -> None:
    name = fresh_name()
    result = await move(bind, erp(bind, name), "dr")
    assert served(bind.primary.port, name) == ({DR_DB}, 45)
    assert result == f"{name} A {DR_DB} (TTL 45s) answered by 127.0.0.1:{bind.primary.port} " \
                     f"[site=dr, server=127.0.0.1:{bind.primary.port}, zone={ZONE}]"


async def test_failover_then_failback_moves_the_record_each_time(bind: Bind) -> None:
    name = fresh_name()
    runbook = erp(bind, name)
    await move(bind, runbook, "dr")
    assert served(bind.primary.port, name)[0] == {DR_DB}
    await move(bind, runbook, "hq")
    assert served(bind.primary.port, name) == ({HQ_DB}, 45)


async def test_dual_stack_then_ipv4_only_leaves_no_aaaa_pointing_at_the_old_site(bind: Bind) -> None:
    name, dns = fresh_name(), Rfc2136("dr", DnsIdentity.model_validate(dns_block(bind)), ENV, POLL)
    await dns.move(name, 30, ["192.0.2.1", "192.0.2.2", "2001:db8::1"])
    assert served(bind.primary.port, name) == ({"192.0.2.1", "192.0.2.2"}, 30)
    assert served(bind.primary.port, name, "AAAA") == ({"2001:db8::1"}, 30)
    await dns.move(name, 30, ["192.0.2.3"])
    assert served(bind.primary.port, name) == ({"192.0.2.3"}, 30)
    assert served(bind.primary.port, name, "AAAA") == (set(), None)


async def test_a_wrong_secret_is_refused_for_good_naming_the_place_and_never_the_secret(bind: Bind) -> None:
    name = fresh_name()
    with pytest.raises(PermanentProviderError) as raised:
        await move(bind, erp(bind, name), "dr", env={"STANDBY_TSIG_STANDBY_DR": OTHER_SECRET})
    message = str(raised.value)
    assert "BADSIG" in message and "STANDBY_TSIG_STANDBY_DR" in message
    assert message.endswith(f"[site=dr, server=127.0.0.1:{bind.primary.port}, zone={ZONE}, record={name}]")
    assert_no_secret(raised.value)
    assert served(bind.primary.port, name) == (set(), None)


async def test_a_key_the_server_does_not_know_is_permanent(bind: Bind) -> None:
    name = fresh_name()
    runbook = erp(bind, name, dr=dns_block(bind, tsig_key="nobody"))
    with pytest.raises(PermanentProviderError, match=r"does not know TSIG key nobody \(BADKEY\)") as raised:
        await move(bind, runbook, "dr", env={"STANDBY_TSIG_NOBODY": SECRET})
    assert_no_secret(raised.value)


async def test_a_zone_the_key_may_not_update_is_refused_for_good(bind: Bind) -> None:
    name = fresh_name(LOCKED)
    dns = Rfc2136("dr", DnsIdentity.model_validate(dns_block(bind, zone=LOCKED)), ENV, POLL)
    with pytest.raises(PermanentProviderError, match="answered REFUSED") as raised:
        await dns.move(name, 60, ["192.0.2.1"])
    assert f"zone={LOCKED}, record={name}]" in str(raised.value)
    assert served(bind.primary.port, name) == (set(), None)


async def test_a_zone_the_server_does_not_serve_is_not_authoritative_for_good(bind: Bind) -> None:
    dns = Rfc2136("dr", DnsIdentity.model_validate(dns_block(bind, zone="elsewhere.example.org")), ENV, POLL)
    with pytest.raises(PermanentProviderError, match="answered NOTAUTH: it is not authoritative for the zone"):
        await dns.move("db.elsewhere.example.org", 60, ["192.0.2.1"])


async def test_a_name_outside_the_zone_is_refused_before_anything_is_sent(bind: Bind) -> None:
    dns = Rfc2136("dr", DnsIdentity.model_validate(dns_block(bind)), ENV, POLL)
    with pytest.raises(PermanentProviderError, match=f"db.other.example.net is not in zone {ZONE}"):
        await dns.move("db.other.example.net", 60, ["192.0.2.1"])


async def test_an_endpoint_that_is_no_dns_name_is_permanent(bind: Bind) -> None:
    dns = Rfc2136("dr", DnsIdentity.model_validate(dns_block(bind)), ENV, POLL)
    with pytest.raises(PermanentProviderError, match=f"'db..{ZONE}' is not a DNS name"):
        await dns.move(f"db..{ZONE}", 60, ["192.0.2.1"])


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "the worker's environment has no STANDBY_TSIG_STANDBY_DR"),
    ({"STANDBY_TSIG_STANDBY_DR": "not base64!"}, "STANDBY_TSIG_STANDBY_DR is not base64"),
])
async def test_a_missing_or_malformed_secret_is_permanent_and_names_the_variable(bind: Bind, env: dict,
                                                                                 expected: str) -> None:
    name = fresh_name()
    with pytest.raises(PermanentProviderError, match=expected) as raised:
        await move(bind, erp(bind, name), "dr", env=env)
    assert "not base64!" not in str(raised.value)
    assert served(bind.primary.port, name) == (set(), None)


async def test_a_name_server_that_is_down_is_retryable(bind: Bind) -> None:
    port = free_udp_tcp_port()
    dns = Rfc2136("dr", DnsIdentity.model_validate(dns_block(bind, port=port)), ENV, POLL)
    with pytest.raises(ProviderError, match=f"cannot reach the name server.*server=127.0.0.1:{port}") as raised:
        await dns.move(fresh_name(), 60, ["192.0.2.1"])
    assert not isinstance(raised.value, PermanentProviderError)


async def test_the_move_waits_until_the_secondary_answers_the_new_address(bind: Bind) -> None:
    name, secondary = fresh_name(), bind.secondary.port
    runbook = erp(bind, name, dr=dns_block(bind, wait_for=[{"address": "127.0.0.1", "port": secondary}]))
    moving = asyncio.create_task(move(bind, runbook, "dr"))
    await asyncio.sleep(0.5)
    assert served(bind.primary.port, name)[0] == {DR_DB}
    assert not moving.done() and served(secondary, name) == (set(), None)
    bind.secondary.notify(ZONE)
    result = await asyncio.wait_for(moving, 10)
    assert served(secondary, name) == ({DR_DB}, 45)
    assert result is not None and f"answered by 127.0.0.1:{bind.primary.port}, 127.0.0.1:{secondary}" in result


async def test_a_secondary_that_never_catches_up_is_retryable_after_the_wait(bind: Bind) -> None:
    name, secondary = fresh_name(), bind.secondary.port
    runbook = erp(bind, name, dr=dns_block(bind, wait="1s", wait_for=[{"address": "127.0.0.1", "port": secondary}]))
    with pytest.raises(ProviderError) as raised:
        await move(bind, runbook, "dr")
    assert not isinstance(raised.value, PermanentProviderError)
    assert f"{name} A {DR_DB} (TTL 45s) not answered within 1s: 127.0.0.1:{secondary} still answers A nothing" \
           in str(raised.value)
    assert served(bind.primary.port, name)[0] == {DR_DB}
