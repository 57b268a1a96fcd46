"""A real BIND (Debian's `named`) for the DNS identity tests: a primary that takes TSIG-signed updates and a secondary.

Both run in the foreground (`-g`) on free 127.0.0.1 ports, each with a temporary directory for its configuration,
zone files and journals, and talk only to each other. The primary serves `shop.example.org` (key `standby-dr` may
update it) and `locked.example.org` (only key `other` may). The secondary copies `shop.example.org` from the primary
at start and then never on its own (no NOTIFY from the primary, a refresh of one hour), so a test decides when it
catches up by sending it a NOTIFY.
"""

from __future__ import annotations

import base64
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import pytest

from tests.conftest import require_binary

ZONE = "shop.example.org"
LOCKED = "locked.example.org"
KEY, OTHER_KEY = "standby-dr", "other"
SECRET = base64.b64encode(b"standby-test-secret-0123456789ab").decode()
OTHER_SECRET = base64.b64encode(b"other-test-secret-0123456789abcd").decode()

ZONE_FILE = """$TTL 300
@    IN SOA ns1.{zone}. hostmaster.{zone}. (1 3600 600 86400 60)
     IN NS  ns1.{zone}.
ns1  IN A   127.0.0.1
"""

OPTIONS = """options {{
    directory "{home}";
    pid-file "{home}/named.pid";
    session-keyfile "{home}/session.key";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
    transfer-source 127.0.0.1;
    notify-source 127.0.0.1;
}};
controls {{ }};
logging {{ category default {{ default_stderr; }}; category update {{ default_stderr; }}; }};
"""

PRIMARY = """key "{key}" {{ algorithm hmac-sha256; secret "{secret}"; }};
key "{other}" {{ algorithm hmac-sha256; secret "{other_secret}"; }};
zone "{zone}" {{
    type primary; file "{zone}.db";
    update-policy {{ grant {key} zonesub A AAAA; }};
    allow-transfer {{ 127.0.0.1; }};
}};
zone "{locked}" {{ type primary; file "{locked}.db"; update-policy {{ grant {other} zonesub ANY; }}; }};
"""

SECONDARY = """zone "{zone}" {{
    type secondary; file "{zone}.db";
    primaries {{ 127.0.0.1 port {primary}; }};
    allow-notify {{ 127.0.0.1; }};
}};
"""


def free_udp_tcp_port() -> int:
    """A port free on 127.0.0.1 for both TCP and UDP, as a name server needs."""
    for _ in range(100):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port on 127.0.0.1")


@dataclass
class Named:
    """One running `named`: its port, its directory, and its process."""

    port: int
    home: Path
    process: subprocess.Popen

    @classmethod
    def start(cls, binary: str, home: Path, config: str, files: dict[str, str], serves: list[str]) -> Named:
        """Write the configuration and zone `files` under `home`, start named, wait until it answers `serves`."""
        home.mkdir(parents=True, exist_ok=True)
        port = free_udp_tcp_port()
        (home / "named.conf").write_text(OPTIONS.format(home=home, port=port) + config)
        for zone, text in files.items():
            (home / f"{zone}.db").write_text(text)
        log = open(home / "named.log", "w")  # noqa: SIM115  # named keeps writing to it after this function returns
        # -g: foreground, logging to stderr; -n 1: one worker thread on a shared 2-core machine.
        process = subprocess.Popen([binary, "-g", "-n", "1", "-c", str(home / "named.conf")],
                                   stdout=log, stderr=subprocess.STDOUT, cwd=home)
        server = cls(port, home, process)
        server.wait_serving(serves)
        return server

    def wait_serving(self, zones: list[str], timeout: float = 15.0) -> None:
        """Until each zone's SOA is answered authoritatively; fails with named's log if it is not in time."""
        deadline = time.monotonic() + timeout
        for zone in zones:
            while not self._answers_soa(zone):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"named did not serve {zone} on 127.0.0.1:{self.port}:\n{self.log()}")
                time.sleep(0.05)

    def _answers_soa(self, zone: str) -> bool:
        try:
            answer = dns.query.udp(dns.message.make_query(zone, "SOA"), "127.0.0.1", timeout=0.5, port=self.port)
        except (dns.exception.Timeout, OSError):
            return False
        return answer.rcode() == dns.rcode.NOERROR and bool(answer.answer)

    def notify(self, zone: str) -> None:
        """Tell this (secondary) server that `zone` changed, so it transfers it now."""
        message = dns.message.make_query(zone, "SOA")
        message.set_opcode(dns.opcode.NOTIFY)
        dns.query.udp(message, "127.0.0.1", timeout=2, port=self.port)

    def log(self) -> str:
        """What named wrote so far."""
        return (self.home / "named.log").read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if named does not exit in time."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Bind:
    """The primary (takes updates) and the secondary (copies shop.example.org when told)."""

    primary: Named
    secondary: Named


@pytest.fixture(scope="session", name="bind")
def bind_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind]:
    """A primary and a secondary `named` for the whole session; each test uses record names of its own."""
    binary = require_binary("named", "Debian's bind9")
    home = tmp_path_factory.mktemp("named")
    zones = {ZONE: ZONE_FILE.format(zone=ZONE), LOCKED: ZONE_FILE.format(zone=LOCKED)}
    config = PRIMARY.format(key=KEY, secret=SECRET, other=OTHER_KEY, other_secret=OTHER_SECRET, zone=ZONE,
                            locked=LOCKED)
    primary = Named.start(binary, home / "primary", config, zones, [ZONE, LOCKED])
    try:
        secondary = Named.start(binary, home / "secondary", SECONDARY.format(zone=ZONE, primary=primary.port), {},
                                 [ZONE])
    except BaseException:
        primary.stop()
        raise
    yield Bind(primary, secondary)
    secondary.stop()
    primary.stop()
