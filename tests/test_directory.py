"""The directory against a real slapd: people proven by their own bind, groups found through nesting."""

import pytest

from activities import directory
from activities.directory import CredentialsRefused, DirectoryError, DirectoryUnavailable, authenticate
from tests.slapd_fixture import PASSWORDS, SEARCH_DN, SEARCH_PASSWORD, Slapd


def groups_of(slapd: Slapd, name: str, **changes: object) -> set[str]:
    person = authenticate(slapd.directory(**changes), name, PASSWORDS[name])
    return {dn.split(",")[0].removeprefix("cn=") for dn in person.groups}


def test_a_direct_member_is_proven_and_in_the_group(slapd):
    person = authenticate(slapd.directory(), "alice", PASSWORDS["alice"])
    assert person.dn == "uid=alice,ou=people,dc=example,dc=org"
    assert person.member_of(slapd.group_dn("dr-operators"))
    assert person.member_of("CN=DR-Operators,OU=groups,DC=example,DC=org")
    assert person.member_of("dr-operators")
    assert not person.member_of(slapd.group_dn("dr-leads"))


def test_nested_members_are_in_every_group_above_theirs(slapd):
    assert groups_of(slapd, "bob") == {"dr-leads", "dr-operators"}
    assert groups_of(slapd, "dave") == {"dr-oncall", "dr-leads", "dr-operators"}


def test_a_non_member_is_proven_but_not_in_the_group_and_a_cycle_ends_the_walk(slapd):
    person = authenticate(slapd.directory(), "carol", PASSWORDS["carol"])
    assert not person.member_of(slapd.group_dn("dr-operators"))
    assert groups_of(slapd, "carol") == {"auditors", "loop-a", "loop-b"}


@pytest.mark.parametrize("name, password", [
    ("alice", "not-alices-password"),
    ("mallory", "any-password"),
    ("alice", ""),
    ("alice)(uid=*", "x"),
    ("uid=alice,ou=people", "x"),
])
def test_wrong_passwords_unknown_users_empty_passwords_and_odd_names_are_refused(slapd, name, password):
    with pytest.raises(CredentialsRefused):
        authenticate(slapd.directory(), name, password)


def test_groups_searched_with_the_search_account_whose_password_is_the_workers(slapd):
    config = slapd.directory(search_bind={"dn": SEARCH_DN, "password": {"from_env": "LDAP_SEARCH_PASSWORD"}})
    person = authenticate(config, "bob", PASSWORDS["bob"], environ={"LDAP_SEARCH_PASSWORD": SEARCH_PASSWORD})
    assert person.member_of("dr-operators")
    with pytest.raises(DirectoryError, match="LDAP_SEARCH_PASSWORD, which is not set in this worker's environment"):
        authenticate(config, "bob", PASSWORDS["bob"], environ={})
    with pytest.raises(DirectoryError, match=f"refused the search account {SEARCH_DN}; check LDAP_SEARCH_PASSWORD"):
        authenticate(config, "bob", PASSWORDS["bob"], environ={"LDAP_SEARCH_PASSWORD": "wrong"})


def test_a_person_found_by_the_user_filter_and_a_filter_that_finds_nobody(slapd):
    person = authenticate(slapd.directory(user_filter="(uid={username})"), "dave", PASSWORDS["dave"])
    assert person.dn == "uid=dave,ou=people,dc=example,dc=org" and person.member_of("dr-operators")
    with pytest.raises(DirectoryError, match="found 0 entries for \\(cn=nobody-dave\\)"):
        authenticate(slapd.directory(user_filter="(cn=nobody-{username})"), "dave", PASSWORDS["dave"])


def test_a_directory_that_does_not_answer_is_unavailable_not_a_refusal(slapd):
    config = slapd.directory(url="ldap://127.0.0.1:1", timeout="1s")
    with pytest.raises(DirectoryUnavailable, match="cannot reach the openldap directory ldap://127.0.0.1:1"):
        authenticate(config, "alice", PASSWORDS["alice"])


class RecordingConnection:
    """Stand-in for an Active Directory connection (no AD can run here): records the filters, answers canned DNs."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.queries: list[str] = []
        self.answers = answers
        self.result = {"result": 0}
        self.extend = self
        self.standard = self

    def paged_search(self, base, query, **_):
        self.queries.append(query)
        return [{"type": "searchResEntry", "dn": dn} for dn in self.answers.get(query, [])]


def test_active_directory_groups_come_from_one_in_chain_search():
    config = Slapd("ldap://127.0.0.1:1").directory(kind="active_directory", user="{username}@corp.example.org",
                                                    base_dn="dc=corp,dc=example,dc=org")
    dn = "CN=Bob (Ops),OU=People,DC=corp,DC=example,DC=org"
    chain = ("(&(objectClass=group)(member:1.2.840.113556.1.4.1941:="
             "CN=Bob \\28Ops\\29,OU=People,DC=corp,DC=example,DC=org))")
    group = "CN=DR,OU=Groups,DC=corp,DC=example,DC=org"
    connection = RecordingConnection({"(sAMAccountName=bob)": [dn], chain: [group]})
    assert directory._person_dn(connection, config, "bob", "bob@corp.example.org") == dn
    assert directory._nested_groups(connection, config, dn) == [group]
    assert connection.queries == ["(sAMAccountName=bob)", chain]


def test_a_directory_section_without_a_username_placeholder_or_with_a_bad_url_is_refused():
    with pytest.raises(ValueError, match="'uid=bob' has no \\{username\\}"):
        Slapd("ldap://127.0.0.1:1").directory(user="uid=bob")
    with pytest.raises(ValueError, match="url"):
        Slapd("http://127.0.0.1:1").directory()
