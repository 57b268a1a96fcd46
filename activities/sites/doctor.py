"""What `standby doctor` asks of each provider: can this worker reach a site and call what the runbook needs?

Each provider has one checker, `(site, runbook) -> list[Check]`, imported on first use like the providers
themselves (a worker for local sites never loads a cloud SDK). A checker never raises: every line says what it
found and, when it fails, what to change. A provider adds its checker to CHECKERS.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from standby.contracts.sites import SiteRef, site_ref
from standby.runbook import Runbook


@dataclass(frozen=True)
class Check:
    """One line of `standby doctor`: a site, what was checked, whether it passed, what was found or must change."""

    site: str
    name: str
    ok: bool
    detail: str


Checker = Callable[[SiteRef, Runbook], list]


def _load(module: str, name: str) -> Callable:
    return getattr(importlib.import_module(module), name)


def _local(site: SiteRef, runbook: Runbook) -> list[Check]:
    return [Check(site.name, "local", True, "processes and folders on this host: nothing to reach")]


CHECKERS: dict[str, Checker] = {
    "local": _local,
    "aws": lambda site, runbook: _load("activities.sites.aws.doctor", "checks")(site, runbook),
    "vsphere": lambda site, runbook: _load("activities.sites.vsphere.doctor", "doctor_checks")(site),
}


def run(runbook: Runbook, sites: list[str] | None = None) -> list:
    """Every check of every (or of the named) sites of a runbook, site by site."""
    found: list = []
    for name in sites or list(runbook.sites):
        site = site_ref(runbook, name)
        checker = CHECKERS.get(site.config.provider)
        if checker is None:
            found.append(Check(name, "provider", False, f"no checks for provider '{site.config.provider}'"))
            continue
        try:
            found += checker(site, runbook)
        except Exception as error:  # noqa: BLE001 - a checker that breaks is one failed line, not a crashed doctor
            found.append(Check(name, "checks", False, f"{type(error).__name__}: {error}"))
    return found
