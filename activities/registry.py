"""Every activity the worker registers, built with the clients and folders they need."""

from pathlib import Path

from temporalio.client import Client

from activities import checks, commands, hooks
from activities.access import AccessActivities
from activities.monitor.activities import MonitorActivities
from activities.owner import OwnerActivities
from activities.sites.activities import SiteActivities
from activities.sites.registry import Providers
from activities.sites.warm import WarmActivities
from activities.state import LegacyStateImport
from standby.config import Settings


def build(state_dir: Path, providers: Providers | None = None, client: Client | None = None,
          settings: Settings | None = None) -> list:
    """Activities for a worker whose local state lives in `state_dir`; every provider unless `providers` says.

    With a `client`, also the activities scheduled drills use to ask runbooks' owners (on `settings`' queue).
    """
    providers = providers or Providers(state_dir)
    legacy = LegacyStateImport(state_dir)
    owners = OwnerActivities(client, settings or Settings.from_env()).all() if client is not None else []
    return [*SiteActivities(providers).all(), *WarmActivities(providers).all(), *providers.activities(),
            *MonitorActivities(state_dir, providers).all(), legacy.import_legacy_state, *owners,
            commands.run_step, hooks.run_hook, checks.check_health, checks.check_connectivity, checks.download,
            AccessActivities().verify_operator]
