"""RFC 2136 dynamic updates: replace a name's address records, signed with TSIG, then wait until they are answered.

Errors map to retry semantics here, each message ending in `[site=..., server=..., zone=..., record=...]`:

    PermanentProviderError   REFUSED, NOTAUTH, NOTZONE, FORMERR, NOTIMP; TSIG BADKEY, BADSIG, BADTIME; a missing
                             or invalid secret; a name outside the zone: retrying cannot help
    ProviderError            timeouts, refused connections, SERVFAIL, servers that do not answer the new
                             addresses before the site's `wait`: the activity's retry policy tries again
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update

from activities.dns import tsig
from activities.sites.base import PermanentProviderError, ProviderError
from standby.runbook import DnsIdentity, DnsServer

UPDATE_TIMEOUT = 10.0
QUERY_TIMEOUT = 2.0
PERMANENT_RCODES = {
    dns.rcode.REFUSED: "refused the update: the key may not change this name (the zone's update-policy or "
                       "allow-update)",
    dns.rcode.NOTAUTH: "is not authoritative for the zone: point the site's dns.server at the zone's primary",
    dns.rcode.NOTZONE: "says the name is not in the zone",
    dns.rcode.FORMERR: "could not parse the update",
    dns.rcode.NOTIMP: "does not implement dynamic updates",
}


@dataclass(frozen=True)
class Record:
    """A name's address records as they should be answered: A and AAAA values and one TTL."""

    name: dns.name.Name
    ttl: int
    a: frozenset[str]
    aaaa: frozenset[str]

    def text(self) -> str:
        """`erp.shop.example.org A 10.20.1.10 (TTL 60s)`."""
        kinds = [f"{kind} {', '.join(sorted(values))}" for kind, values in (("A", self.a), ("AAAA", self.aaaa))
                 if values]
        return f"{self.name.to_text(omit_final_dot=True)} {'; '.join(kinds)} (TTL {self.ttl}s)"


def failure(error: Exception, key: str, variable: str, place: str) -> ProviderError:
    """The provider error for what sending a signed message raised; never quotes the secret."""
    if isinstance(error, dns.tsig.PeerBadKey):
        return PermanentProviderError(f"the server does not know TSIG key {key} (BADKEY): add the key to the "
                                      f"server, or name the right one in the site's dns.tsig_key [{place}]")
    if isinstance(error, dns.tsig.PeerBadSignature):
        return PermanentProviderError(f"the server rejected the signature of TSIG key {key} (BADSIG): {variable} "
                                      f"holds another secret than the server's, or tsig_algorithm differs [{place}]")
    if isinstance(error, (dns.tsig.PeerBadTime, dns.tsig.BadTime)):
        return PermanentProviderError(f"TSIG key {key}: the worker's and the server's clocks differ by more than "
                                      f"the allowed 5 minutes (BADTIME): synchronise them (NTP) [{place}]")
    if isinstance(error, (dns.tsig.PeerError, dns.tsig.BadSignature, dns.tsig.BadKey, dns.tsig.BadAlgorithm,
                          dns.message.UnknownTSIGKey)):
        return PermanentProviderError(f"TSIG key {key}: the exchange failed verification ({type(error).__name__}) "
                                      f"[{place}]")
    if isinstance(error, dns.exception.Timeout):
        return ProviderError(f"no answer from the name server in time: check that it runs and that this worker "
                             f"reaches it over UDP and TCP [{place}]")
    if isinstance(error, OSError):
        return ProviderError(f"cannot reach the name server: {error.strerror or error} [{place}]")
    return ProviderError(f"the exchange with the name server failed: {type(error).__name__}: {error} [{place}]")


def checked(response: dns.message.Message, place: str) -> None:
    """Raise for an update's answer other than NOERROR: permanent for what a retry cannot change."""
    rcode = response.rcode()
    if rcode == dns.rcode.NOERROR:
        return
    text = f"the server answered {dns.rcode.to_text(rcode)}"
    if rcode in PERMANENT_RCODES:
        raise PermanentProviderError(f"{text}: it {PERMANENT_RCODES[rcode]} [{place}]")
    raise ProviderError(f"{text} [{place}]")


class Rfc2136:
    """One site's primary name server and zone, and the TSIG key (from the worker's environment) that signs for it."""

    def __init__(self, site: str, config: DnsIdentity, env: Mapping[str, str] = os.environ, poll: float = 0.5):
        """`env` and `poll` are seams for tests; by default the worker's environment and two polls a second."""
        self.site, self.config, self.env, self.poll = site, config, env, poll
        self.zone = dns.name.from_text(config.zone)

    def describe(self, name: str | None = None) -> str:
        """`site=dr, server=127.0.0.1:53, zone=shop.example.org, record=erp.shop.example.org`."""
        where = f"site={self.site}, server={hostport(self.config.server, self.config.port)}, zone={self.config.zone}"
        return where + (f", record={name.rstrip('.')}" if name else "")

    def record(self, name: str, ttl: int, addresses: list[str]) -> Record:
        """What `name` should answer: the addresses split into A and AAAA; a name outside the zone is permanent."""
        place = self.describe(name)
        try:
            absolute = dns.name.from_text(name)
        except dns.exception.DNSException as error:
            raise PermanentProviderError(f"{name!r} is not a DNS name ({error}) [{place}]") from None
        if not absolute.is_subdomain(self.zone):
            raise PermanentProviderError(f"{name} is not in zone {self.config.zone}: name the endpoint under the "
                                         f"zone, or give the site the zone it is in [{place}]")
        try:
            parsed = [ipaddress.ip_address(a) for a in addresses]
        except ValueError as error:
            raise PermanentProviderError(f"cannot point {name} at {', '.join(addresses)}: {error} [{place}]") from None
        if not parsed:
            raise PermanentProviderError(f"no address to point {name} at [{place}]")
        return Record(absolute, ttl, frozenset(str(a) for a in parsed if a.version == 4),
                      frozenset(str(a) for a in parsed if a.version == 6))

    async def replace(self, record: Record) -> None:
        """One signed update: the name's A and AAAA sets become exactly the record's (a retry changes nothing)."""
        name = record.name.to_text()
        key = tsig.load(self.config, self.env, self.describe(name))
        update = dns.update.UpdateMessage(self.zone, keyring=key)
        for kind, values in (("A", record.a), ("AAAA", record.aaaa)):
            if values:
                update.replace(record.name, record.ttl, kind, *sorted(values))
            else:
                # A record left in the other family would keep sending clients to the site being left.
                update.delete(record.name, kind)
        response = await self._send(update, name)
        checked(response, self.describe(name))

    async def _send(self, update: dns.update.UpdateMessage, name: str) -> dns.message.Message:
        try:
            return await dns.asyncquery.tcp(update, str(self.config.server), timeout=UPDATE_TIMEOUT,
                                            port=self.config.port)
        except Exception as error:  # every failure is mapped once, in `failure`
            raise failure(error, self.config.tsig_key, self.config.secret_variable(), self.describe(name)) from error

    def servers(self) -> list[DnsServer]:
        """The name servers that must answer the new addresses: the primary, then the site's `wait_for`."""
        primary = DnsServer(address=self.config.server, port=self.config.port)
        return [primary, *(s for s in self.config.wait_for if s != primary)]

    async def wait_answered(self, record: Record) -> list[str]:
        """Poll every server until each answers the record authoritatively; a retryable error after `wait`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.wait.total_seconds()
        pending, answered = self.servers(), []
        while True:
            seen = await asyncio.gather(*(answers(s, record) for s in pending))
            answered += [hostport(s.address, s.port) for s, says in zip(pending, seen, strict=True) if says is None]
            lagging = [(s, says) for s, says in zip(pending, seen, strict=True) if says is not None]
            if not lagging:
                return answered
            if loop.time() >= deadline:
                still = "; ".join(f"{hostport(s.address, s.port)} {says}" for s, says in lagging)
                raise ProviderError(f"{record.text()} not answered within {self.config.wait.total_seconds():g}s: "
                                    f"{still} [{self.describe(record.name.to_text())}]")
            pending = [s for s, _ in lagging]
            await asyncio.sleep(self.poll)

    async def move(self, name: str, ttl: int, addresses: list[str]) -> str:
        """Replace the records of `name`, wait until every name server answers them; what now answers."""
        record = self.record(name, ttl, addresses)
        await self.replace(record)
        answered = await self.wait_answered(record)
        return f"{record.text()} answered by {', '.join(answered)} [{self.describe()}]"


async def answers(server: DnsServer, record: Record) -> str | None:
    """None when `server` answers the record's A and AAAA sets and TTL authoritatively; else what it says."""
    for kind, wanted in ((dns.rdatatype.A, record.a), (dns.rdatatype.AAAA, record.aaaa)):
        query = dns.message.make_query(record.name, kind)
        query.flags &= ~dns.flags.RD  # ask the server itself, never a resolver behind it
        try:
            response, _ = await dns.asyncquery.udp_with_fallback(query, str(server.address), timeout=QUERY_TIMEOUT,
                                                                 port=server.port)
        except (dns.exception.DNSException, OSError) as error:
            return f"does not answer ({type(error).__name__})"
        says = _differs(response, kind, wanted, record.ttl)
        if says is not None:
            return says
    return None


def _differs(response: dns.message.Message, kind: dns.rdatatype.RdataType, wanted: frozenset[str],
             ttl: int) -> str | None:
    """What is wrong with one answer, or None if it is authoritative and exactly `wanted` with `ttl`."""
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return f"answers {dns.rcode.to_text(rcode)}"
    if not response.flags & dns.flags.AA:
        return "answers without authority"
    found = next((r for r in response.answer if r.rdtype == kind), None)
    values = frozenset(r.to_text() for r in found) if found is not None else frozenset()
    name = dns.rdatatype.to_text(kind)
    if values != wanted:
        return f"still answers {name} {', '.join(sorted(values)) or 'nothing'}"
    if found is not None and found.ttl != ttl:
        return f"still answers {name} with TTL {found.ttl}s"
    return None


def hostport(address: object, port: int) -> str:
    """`127.0.0.1:53`, `[2001:db8::53]:53`."""
    return f"[{address}]:{port}" if ":" in str(address) else f"{address}:{port}"
