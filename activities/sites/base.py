"""The one interface every site provider implements, the description each provider package gives of itself,
and the errors providers raise.

    ProviderError                 a provider call failed; message names [site, ...]
      PermanentProviderError      retrying cannot help (denied, not found, invalid)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

from standby.contracts.sites import (
    AppInput,
    DirectionInput,
    IdentityInput,
    LaunchInput,
    MachineReplication,
    PointsInput,
    RecoveryPoint,
    ReplicationInput,
    SiteRef,
    StopResult,
    Target,
    TerminateInput,
)
from standby.discovery import Discovered, Filters
from standby.runbook import Runbook

if TYPE_CHECKING:
    from activities.sites.registry import Providers


class ProviderError(Exception):
    """A provider call failed; the activity's retry policy may try again."""


class PermanentProviderError(ProviderError):
    """A provider call failed for good: denied, not found, invalid input."""


def failed(failures: dict[str, ProviderError], total: int, doing: str) -> ProviderError:
    """One error naming each machine (or app) of `failures`, of `total`; permanent only when every failure is,
    else a retry does the failed ones again."""
    kind = PermanentProviderError if all(isinstance(e, PermanentProviderError) for e in failures.values()) \
        else ProviderError
    reasons = "; ".join(f"{name}: {error}" for name, error in sorted(failures.items()))
    return kind(f"{len(failures)} of {total} {doing}: {reasons}")


class SiteProvider(Protocol):
    """What operations need from an infrastructure; workflows never see which one."""

    def describe(self) -> str:
        """`site=dr, region=eu-west-1`: what goes into every error message."""
        ...

    async def replication(self, inp: ReplicationInput) -> list[MachineReplication]:
        """Replication state of each machine replicated into this site."""
        ...

    async def replicate(self, inp: ReplicationInput) -> list[MachineReplication]:
        """Drive replication for up to `inp.seconds` where the provider does it itself (local); else report."""
        ...

    async def recovery_points(self, inp: PointsInput) -> list[RecoveryPoint]:
        """Points a machine can be launched from, oldest first."""
        ...

    async def launch(self, inp: LaunchInput) -> Target:
        """Launch a machine's target; a second call with the same key returns the first target."""
        ...

    async def start_app(self, inp: AppInput) -> list[Target]:
        """Start an app's machines from the site's own data (protection bring-up, switchover)."""
        ...

    async def stop_app(self, inp: AppInput) -> StopResult:
        """Stop an app's machines at this site: gracefully, then forcibly."""
        ...

    async def terminate(self, inp: TerminateInput) -> list[str]:
        """Remove targets launched under a key; returns the ids removed."""
        ...

    async def set_direction(self, inp: DirectionInput) -> str | None:
        """Replicate from inp.source into inp.target from now on (reverse replication)."""
        ...

    async def move_identity(self, inp: IdentityInput) -> str:
        """Point the app's network identity at its targets on inp.site; returns what now answers."""
        ...


@dataclass(frozen=True)
class Check:
    """One line of `standby doctor`: a site, what was checked, whether it passed, what was found or must change."""

    site: str
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class ProviderSpec:
    """A provider package's description of itself, the one thing the registries read.

    name          the `provider:` of its sites in a runbook
    site_model    the runbook model of its sites (the registry finds a site's provider by it)
    factory       (site, worker state folder) -> the provider driving that site
    doctor        (site, runbook) -> what `standby doctor` prints for the site; never raises
    activities    (providers, worker state folder) -> activities of its own the worker registers
    discover      (site, filters) -> the machines the site has, for `standby discover`; None: nothing to list

    The callables import the provider's modules when first called, so that a worker for local sites never loads
    a cloud SDK: a package's `__init__` imports nothing heavier than this module and the runbook model.
    """

    name: str
    site_model: type[BaseModel]
    factory: Callable[[SiteRef, Path], SiteProvider]
    doctor: Callable[[SiteRef, Runbook], list[Check]]
    activities: Callable[[Providers, Path], list] | None = None
    discover: Callable[[SiteRef, Filters], list[Discovered]] | None = None
