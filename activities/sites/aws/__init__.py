"""The `aws` site provider: Elastic Disaster Recovery, EC2, Route 53 and SSM, and the Failback Client.

Nothing here imports boto3: the callables below load the provider's modules on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from activities.sites.base import Check, ProviderSpec, SiteProvider
from standby.contracts.sites import SiteRef
from standby.discovery import Discovered, Filters
from standby.runbook import AwsSite, Runbook

if TYPE_CHECKING:
    from activities.sites.registry import Providers


def _factory(site: SiteRef, state_dir: Path) -> SiteProvider:
    from activities.sites.aws.provider import AwsSiteProvider

    return AwsSiteProvider(site)


def _doctor(site: SiteRef, runbook: Runbook) -> list[Check]:
    from activities.sites.aws.doctor import checks

    return checks(site, runbook)


def _activities(providers: Providers, state_dir: Path) -> list:
    """The Failback Client's steps, which run on a worker beside the machine failed back."""
    from activities.sites.aws.failback_client import FailbackClientActivities

    return FailbackClientActivities(providers, state_dir).all()



def _discover(site: SiteRef, filters: Filters) -> list[Discovered]:
    from activities.sites.aws.discover import discover

    return discover(site, filters)


PROVIDER = ProviderSpec(name="aws", site_model=AwsSite, factory=_factory, doctor=_doctor, activities=_activities,
                        discover=_discover)
