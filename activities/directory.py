"""LDAP and Active Directory (ldap3): prove a person by binding as them, and find their groups, nested included.

OpenLDAP's groupOfNames has no transitive search, so its groups are walked upwards level by level (a cycle
ends the walk). Active Directory answers in one search with LDAP_MATCHING_RULE_IN_CHAIN.
"""

import os
import re
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ldap3 import NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException, LDAPSocketOpenError, LDAPStartTLSError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from standby.runbook import Directory

IN_CHAIN = "1.2.840.113556.1.4.1941"
"""Active Directory's LDAP_MATCHING_RULE_IN_CHAIN: membership through any depth of nested groups."""

MAX_DEPTH = 32
"""Levels of nesting walked on OpenLDAP; deeper than any real tree, and a bound should a cycle escape the check."""

INVALID_CREDENTIALS = 49
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,255}$")
"""Names that need no escaping in a DN, a UPN or a filter: refusing others closes every injection."""


class DirectoryError(Exception):
    """The directory cannot answer as configured (a wrong base, filter or search account): not a person's fault."""


class DirectoryUnavailable(DirectoryError):
    """The directory server cannot be reached right now; a later try may succeed."""


class CredentialsRefused(Exception):
    """The person is not who they claim: wrong password, unknown user, or a name no directory accepts."""


@dataclass(frozen=True)
class Person:
    """Someone the directory proved: their name, their entry, and every group they are in, nested included."""

    username: str
    dn: str
    groups: tuple[str, ...]

    def member_of(self, group: str) -> bool:
        """Whether the person is in the group, named by DN or by its bare cn."""
        if "=" not in group:
            return any(_first_value(dn) == group.lower() for dn in self.groups)
        wanted = _normal(group)
        return any(_normal(dn) == wanted for dn in self.groups)


def _normal(dn: str) -> tuple[tuple[str, str], ...]:
    """A DN compared as LDAP compares it: attribute names and (for these attributes) values without case."""
    return tuple((attr.lower(), value.lower()) for attr, value, _ in parse_dn(dn))


def _first_value(dn: str) -> str:
    return parse_dn(dn)[0][1].lower()


def describe(config: Directory) -> str:
    """The directory in one phrase, for error messages."""
    return f"{config.kind} directory {config.url}"


def _seconds(config: Directory) -> int:
    """The timeout in whole seconds: ldap3 packs it into a socket option that takes an integer."""
    return max(1, round(config.timeout.total_seconds()))


def _server(config: Directory) -> Server:
    tls = None
    if config.url.startswith("ldaps://") or config.start_tls:
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config.ca_file)
    return Server(config.url, use_ssl=config.url.startswith("ldaps://"), tls=tls, get_info=NONE,
                  connect_timeout=_seconds(config))


def _bind(config: Directory, who: str, password: str) -> Connection:
    """A connection bound as `who`; CredentialsRefused when the server says the credentials are wrong."""
    if not password:
        # An empty password is an anonymous bind in LDAP (RFC 4513 5.1.2): it would succeed for anyone.
        raise CredentialsRefused("an empty password proves nothing; give the directory password")
    connection = Connection(_server(config), user=who, password=password, raise_exceptions=False,
                            receive_timeout=_seconds(config))
    try:
        connection.open()
        if config.start_tls:
            connection.start_tls()
        bound = connection.bind()
    except LDAPSocketOpenError as error:
        raise DirectoryUnavailable(f"cannot reach the {describe(config)}: {error}") from None
    except LDAPStartTLSError as error:
        raise DirectoryError(f"StartTLS with the {describe(config)} failed: {error}; check directory.ca_file") from None
    if bound:
        return connection
    result = connection.result or {}
    connection.unbind()
    if result.get("result") == INVALID_CREDENTIALS:
        raise CredentialsRefused("the directory refused the credentials (wrong password or unknown user)")
    raise DirectoryError(f"the {describe(config)} refused the bind as {who}: {result.get('description')} "
                         f"{result.get('message') or ''}".rstrip())


def _search(connection: Connection, config: Directory, base: str, query: str) -> list[str]:
    """DNs of the entries that match; DirectoryError naming the base and filter when the search fails."""
    try:
        # Paged: Active Directory answers at most 1000 entries a page.
        entries = connection.extend.standard.paged_search(base, query, search_scope=SUBTREE, attributes=[],
                                                          paged_size=500, generator=False)
    except LDAPException as error:
        raise DirectoryError(f"search {query} under {base} on the {describe(config)} failed: {error}") from None
    result = connection.result or {}
    if result.get("result") not in (0, None):
        raise DirectoryError(f"search {query} under {base} on the {describe(config)} failed: "
                             f"{result.get('description')} {result.get('message') or ''}".rstrip())
    return [entry["dn"] for entry in entries or [] if entry.get("type") == "searchResEntry"]


def _person_dn(connection: Connection, config: Directory, username: str, bound_as: str) -> str:
    """The person's entry: the bind DN itself, or (a UPN or DOMAIN\\name bind) found by the user filter."""
    if config.user_filter is None and config.kind == "openldap" and "=" in bound_as:
        return bound_as
    default = "(sAMAccountName={username})" if config.kind == "active_directory" else "(uid={username})"
    query = (config.user_filter or default).replace("{username}", escape_filter_chars(username))
    found = _search(connection, config, config.base_dn, query)
    if len(found) != 1:
        raise DirectoryError(f"bound as {bound_as} but found {len(found)} entries for {query} under {config.base_dn}; "
                             "fix directory.user_filter or directory.base_dn")
    return found[0]


def _chunks(items: list[str], size: int = 50) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _nested_groups(connection: Connection, config: Directory, dn: str) -> list[str]:
    """Every group that holds the DN as a member, directly or through other groups."""
    base = config.group_base or config.base_dn
    if config.kind == "active_directory":
        return _search(connection, config, base,
                       f"(&(objectClass=group)(member:{IN_CHAIN}:={escape_filter_chars(dn)}))")
    found: dict[tuple, str] = {}
    frontier = [dn]
    for _ in range(MAX_DEPTH):
        level: list[str] = []
        for chunk in _chunks(frontier):
            members = "".join(f"(member={escape_filter_chars(m)})" for m in chunk)
            level += _search(connection, config, base, f"(&(objectClass=groupOfNames)(|{members}))")
        frontier = [g for g in level if _normal(g) not in found]
        found.update({_normal(g): g for g in frontier})
        if not frontier:
            break
    return list(found.values())


def _bind_name(config: Directory, username: str) -> str:
    if not USERNAME.match(username):
        raise CredentialsRefused(f"{username!r} is not a directory username (letters, digits, '.', '_', '@', '-')")
    return config.user.replace("{username}", username)


def authenticate(config: Directory, username: str, password: str,
                 environ: Mapping[str, str] = os.environ) -> Person:
    """Bind as the person with their own password, then find their groups (with the search account if set)."""
    who = _bind_name(config, username)
    connection = _bind(config, who, password)
    try:
        dn = _person_dn(connection, config, username, who)
        searcher = connection if config.search_bind is None else _search_connection(config, environ)
        try:
            return Person(username, dn, tuple(_nested_groups(searcher, config, dn)))
        finally:
            if searcher is not connection:
                searcher.unbind()
    finally:
        connection.unbind()


def _search_connection(config: Directory, environ: Mapping[str, str]) -> Connection:
    """The search account's connection, its password from the worker's environment."""
    assert config.search_bind is not None
    variable = config.search_bind.password.from_env
    password = environ.get(variable)
    if not password:
        raise DirectoryError(f"directory.search_bind.password names {variable}, which is not set in this worker's "
                             "environment; set it where the worker starts")
    try:
        return _bind(config, config.search_bind.dn, password)
    except CredentialsRefused:
        raise DirectoryError(f"the {describe(config)} refused the search account {config.search_bind.dn}; "
                             f"check {variable}") from None
