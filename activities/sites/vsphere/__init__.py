"""The `vsphere` site provider: vCenter datacenters driven through pyvmomi, and the remediation actions.

Nothing here imports pyvmomi: the callables below load the provider's modules on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from activities.sites.base import Check, ProviderSpec, SiteProvider
from standby.contracts.sites import SiteRef
from standby.discovery import Discovered, Filters
from standby.runbook import Runbook, VsphereSite

if TYPE_CHECKING:
    from activities.sites.registry import Providers


def _factory(site: SiteRef, state_dir: Path) -> SiteProvider:
    from activities.sites.vsphere.provider import VsphereSiteProvider

    return VsphereSiteProvider(site)


def _doctor(site: SiteRef, runbook: Runbook) -> list[Check]:
    from activities.sites.vsphere.doctor import doctor_checks

    return doctor_checks(site)


def _activities(providers: Providers, state_dir: Path) -> list:
    """Restart, reset, vMotion and Storage vMotion, which hooks and the protect monitor call by name."""
    from activities.sites.vsphere.activities import RemediationActivities

    return RemediationActivities().all()



def _discover(site: SiteRef, filters: Filters) -> list[Discovered]:
    from activities.sites.vsphere.discover import discover

    return discover(site, filters)


PROVIDER = ProviderSpec(name="vsphere", site_model=VsphereSite, factory=_factory, doctor=_doctor,
                        activities=_activities, discover=_discover)
