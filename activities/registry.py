"""Every activity the worker registers, built with the clients and folders they need."""

from pathlib import Path

from activities import checks, commands, hooks
from activities.access import AccessActivities
from activities.failback_client import FailbackClientActivities
from activities.sites.activities import SiteActivities
from activities.sites.registry import Providers, default_providers
from activities.sites.vsphere_remediation import RemediationActivities
from activities.state import StateStore


def build(state_dir: Path, providers: Providers | None = None) -> list:
    """Activities for a worker whose local state lives in `state_dir`."""
    providers = providers or default_providers(state_dir)
    sites, failback = SiteActivities(providers), FailbackClientActivities(providers, state_dir)
    store = StateStore(state_dir)
    return [*sites.all(), *failback.all(), *RemediationActivities().all(), store.load_state, store.update_state,
            commands.run_step, hooks.run_hook, checks.check_health, checks.check_connectivity, checks.download,
            AccessActivities().verify_operator]
