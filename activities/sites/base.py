"""The one interface every site provider implements, and the errors they raise.

    ProviderError                 a provider call failed; message names [site, ...]
      PermanentProviderError      retrying cannot help (denied, not found, invalid)
"""

from typing import Protocol

from standby.contracts.sites import (
    AppInput,
    DirectionInput,
    IdentityInput,
    LaunchInput,
    MachineReplication,
    PointsInput,
    RecoveryPoint,
    ReplicationInput,
    StopResult,
    Target,
    TerminateInput,
)


class ProviderError(Exception):
    """A provider call failed; the activity's retry policy may try again."""


class PermanentProviderError(ProviderError):
    """A provider call failed for good: denied, not found, invalid input."""


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

    async def set_direction(self, inp: DirectionInput) -> None:
        """Replicate from inp.source into inp.target from now on (reverse replication)."""
        ...

    async def move_identity(self, inp: IdentityInput) -> str:
        """Point the app's network identity at its targets on inp.site; returns what now answers."""
        ...
