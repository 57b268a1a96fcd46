"""One registry maps a site's `provider:` to the class that drives it."""

import importlib
from collections.abc import Callable
from pathlib import Path

from activities.sites.base import PermanentProviderError, SiteProvider
from standby.contracts.sites import SiteRef

Factory = Callable[[SiteRef], SiteProvider]


class Providers:
    """Provider factories by name; a provider is built per site on first use and kept."""

    def __init__(self, factories: dict[str, Factory]):
        self.factories = factories
        self.built: dict[tuple[str, str], SiteProvider] = {}

    def for_site(self, site: SiteRef) -> SiteProvider:
        """The provider driving `site`."""
        key = (site.runbook, site.name)
        if key not in self.built:
            factory = self.factories.get(site.config.provider)
            if factory is None:
                raise PermanentProviderError(
                    f"no provider '{site.config.provider}' on this worker [site={site.name}]; "
                    f"it has: {', '.join(sorted(self.factories))}"
                )
            self.built[key] = factory(site)
        return self.built[key]


def default_providers(state_dir: Path) -> Providers:
    """Every provider this worker can drive, credentials from its environment.

    Cloud SDKs are imported when a site of theirs is first used, so a worker for local sites never loads them.
    """
    from activities.sites.local.provider import LocalSiteProvider

    return Providers({
        "local": lambda site: LocalSiteProvider(site, state_dir),
        "aws": lambda site: _provider("activities.sites.aws.provider", "AwsSiteProvider")(site),
        "vsphere": lambda site: _provider("activities.sites.vsphere.provider", "VsphereSiteProvider")(site),
    })


def _provider(module: str, name: str) -> Factory:
    return getattr(importlib.import_module(module), name)
