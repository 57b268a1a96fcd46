"""Debian's slapd for the directory tests: a temporary slapd.conf, people and nested groups, on 127.0.0.1.

The tree (dc=example,dc=org):
  dr-operators  <- alice, dr-leads          dr-leads  <- bob, dr-oncall          dr-oncall <- dave
  auditors      <- carol                    loop-a    <- loop-b, carol            loop-b    <- loop-a
so alice is a direct member of dr-operators, bob one level down, dave two, carol in none of them (and in
a cycle that a walk must not loop on). Only bound users read the tree, as in most real directories.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from standby.runbook import Directory

BASE = "dc=example,dc=org"
PASSWORDS = {"alice": "alice-ldap-secret", "bob": "bob-ldap-secret", "carol": "carol-ldap-secret",
             "dave": "dave-ldap-secret"}
SEARCH_DN, SEARCH_PASSWORD = f"cn=standby-search,ou=services,{BASE}", "search-ldap-secret"
GROUPS = {"dr-operators": ["uid=alice", "cn=dr-leads"], "dr-leads": ["uid=bob", "cn=dr-oncall"],
          "dr-oncall": ["uid=dave"], "auditors": ["uid=carol"], "loop-a": ["cn=loop-b", "uid=carol"],
          "loop-b": ["cn=loop-a"]}
SCHEMAS = ("core", "cosine", "inetorgperson")
IN_CI = os.environ.get("CI") == "true"


@dataclass(frozen=True)
class Slapd:
    """A running slapd: where it listens and how a runbook's directory section names it."""

    url: str

    @staticmethod
    def group_dn(name: str) -> str:
        return f"cn={name},ou=groups,{BASE}"

    def directory(self, **changes: object) -> Directory:
        """The runbook's `directory:` section for this server."""
        config = {"url": self.url, "base_dn": BASE, "user": f"uid={{username}},ou=people,{BASE}", "timeout": "5s"}
        return Directory.model_validate({**config, **changes})


def _ssha(password: str) -> str:
    salt = os.urandom(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def _member_dn(short: str) -> str:
    return f"{short},ou=people,{BASE}" if short.startswith("uid=") else f"{short},ou=groups,{BASE}"


def _ldif() -> str:
    entries = [f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: example\ndc: example"]
    entries += [f"dn: ou={ou},{BASE}\nobjectClass: organizationalUnit\nou: {ou}"
                for ou in ("people", "groups", "services")]
    entries += [f"dn: uid={name},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {name}\ncn: {name}\nsn: {name}\n"
                f"userPassword: {_ssha(password)}" for name, password in PASSWORDS.items()]
    entries.append(f"dn: {SEARCH_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
                   f"cn: standby-search\nuserPassword: {_ssha(SEARCH_PASSWORD)}")
    entries += [f"dn: cn={name},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {name}\n"
                + "\n".join(f"member: {_member_dn(m)}" for m in members) for name, members in GROUPS.items()]
    return "\n\n".join(entries) + "\n"


def _config(folder: Path) -> str:
    includes = "\n".join(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS)
    return f"""{includes}
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {folder}/slapd.pid
database mdb
suffix "{BASE}"
directory {folder}/data
maxsize 10485760
index objectClass,member eq
access to attrs=userPassword by anonymous auth by self auth by * none
access to * by users read by * none
"""


def _slapd_binary() -> str:
    path = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)
    if path is None:
        message = "'slapd' is not installed (Debian's slapd; scripts/install --test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"slapd exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    pytest.fail(f"slapd did not listen on 127.0.0.1:{port} within 10s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def slapd() -> Iterator[Slapd]:
    """One slapd for the session, loaded offline with slapadd, serving ldap://127.0.0.1:PORT."""
    binary = _slapd_binary()
    with tempfile.TemporaryDirectory(prefix="standby-slapd-") as temporary:
        folder = Path(temporary)
        (folder / "data").mkdir()
        (folder / "slapd.conf").write_text(_config(folder))
        (folder / "tree.ldif").write_text(_ldif())
        subprocess.run([str(Path(binary).with_name("slapadd")), "-f", str(folder / "slapd.conf"),
                        "-l", str(folder / "tree.ldif")], check=True, capture_output=True)
        port, log = _free_port(), folder / "slapd.log"
        with open(log, "wb") as output:
            proc = subprocess.Popen([binary, "-f", str(folder / "slapd.conf"), "-h", f"ldap://127.0.0.1:{port}/",
                                     "-d", "none"], stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_listening(proc, port, log)
            yield Slapd(f"ldap://127.0.0.1:{port}")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
