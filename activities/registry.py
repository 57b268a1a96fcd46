"""Every activity the worker registers, built with the clients and folders they need."""

from pathlib import Path

from activities import checks, commands, hooks
from activities.monitor.activities import MonitorActivities
from activities.sites.activities import SiteActivities
from activities.sites.registry import Providers
from activities.state import LegacyStateImport


def build(state_dir: Path, providers: Providers | None = None) -> list:
    """Activities for a worker whose local state lives in `state_dir`; every provider unless `providers` says."""
    providers = providers or Providers(state_dir)
    legacy = LegacyStateImport(state_dir)
    return [*SiteActivities(providers).all(), *providers.activities(), *MonitorActivities(state_dir, providers).all(),
            legacy.import_legacy_state,
            commands.run_step, hooks.run_hook, checks.check_health, checks.check_connectivity, checks.download]
