"""Where the local provider keeps each runbook's sites, machines, points, targets and endpoints, and its pid files.

A contract between the provider, which writes this tree, and the tools that read it (the demo, tests).
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def safe_name(key: str) -> str:
    """A folder name for an operation key such as `standby/shop/drill/<run id>`."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key)


@dataclass(frozen=True)
class Layout:
    """Paths under `<state>/runbooks/<runbook>/`, and under the folders of sites that have a `path:` of their own."""

    state_dir: Path
    runbook: str
    paths: Mapping[str, Path] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The runbook's folder."""
        return self.state_dir / "runbooks" / self.runbook

    def site(self, site: str) -> Path:
        """A site's folder: its `path:`, else `<state>/runbooks/<runbook>/sites/<site>`."""
        return self.paths.get(site) or self.root / "sites" / site

    def machine(self, site: str, machine: str) -> Path:
        """A machine's folder at a site: live data, pid, log, points replicated into the site."""
        return self.site(site) / "machines" / machine

    def data(self, site: str, machine: str) -> Path:
        """The data folder a machine serves from at a site."""
        return self.machine(site, machine) / "data"

    def points(self, site: str, machine: str) -> Path:
        """Recovery points replicated into a site."""
        return self.machine(site, machine) / "points"

    def last_pass(self, site: str, machine: str) -> Path:
        """The record of the last replication pass into a site."""
        return self.machine(site, machine) / "last-pass.json"

    def pid(self, site: str, machine: str) -> Path:
        """The pid file of a machine's live process at a site."""
        return self.machine(site, machine) / "machine.pid"

    def log(self, site: str, machine: str) -> Path:
        """The log of a machine's live process at a site."""
        return self.machine(site, machine) / "machine.log"

    def targets(self, site: str) -> Path:
        """Records of launched targets, one folder per operation key."""
        return self.site(site) / "targets"

    def target(self, site: str, key: str, machine: str) -> Path:
        """The record of one launched target."""
        return self.targets(site) / safe_name(key) / f"{machine}.json"

    def target_pid(self, site: str, key: str, machine: str) -> Path:
        """The pid record of the process one launch started: what a retry of that launch may call its own."""
        return self.target(site, key, machine).with_suffix(".pid")

    def test_machine(self, site: str, key: str, machine: str) -> Path:
        """The folder of a drill's test target: its own copy of the point, pid and log."""
        return self.site(site) / "tests" / safe_name(key) / machine

    def launches(self, site: str) -> Path:
        """Append-only log of every process a launch started: the proof nothing launched twice."""
        return self.site(site) / "launches.log"

    def route(self, site: str, app: str) -> Path:
        """The site's route file for an app's public endpoint (the proxy follows the routes of every site)."""
        return self.site(site) / "endpoints" / f"{app}.route"

    def epoch(self, site: str, app: str) -> Path:
        """The newest fencing epoch a site has seen for an app: older launches and moves are refused."""
        return self.site(site) / "epochs" / f"{app}.json"


@dataclass(frozen=True)
class PidRecord:
    """What a pid file holds: the pid, its start time in clock ticks after boot, and the argv it was started with."""

    pid: int
    start_time: int
    argv: tuple[str, ...]


def read_pid_file(pid_file: Path) -> PidRecord | None:
    """The record in the pid file, or None when there is none (or half of one); OSError when it cannot be read.

    A folder that cannot be read is not a stopped process: the caller must not take it for one.
    """
    try:
        text = pid_file.read_text()
    except FileNotFoundError:
        return None
    try:
        value = json.loads(text)
        return PidRecord(int(value["pid"]), int(value["start_time"]), tuple(value["argv"]))
    except (ValueError, KeyError, TypeError):
        return None
