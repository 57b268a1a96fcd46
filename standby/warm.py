"""How a switchover readies an app at its target before the source stops: a warm start (local sites).

A planned switchover's downtime is the time from the first app stopped at the source to the last identity moved
at the target. Everything that does not touch live data can happen before it: an app that keeps no replicated
data starts ahead in full; an app that does starts as a warm process that binds its port, answers its health as
not ready and opens no data until it is promoted, once the source has stopped and its last writes are drained.
"""

from typing import Literal

from pydantic import Field, model_validator

from standby.runbook_base import Argv, Strict

PromoteSignal = Literal["SIGUSR1", "SIGUSR2", "SIGHUP"]


class Promote(Strict):
    """What makes a warm process open its data and serve: a signal sent to it."""

    signal: PromoteSignal = "SIGUSR1"


class Warm(Strict):
    """An app's warm start at the target of a switchover: `stateless: true`, or a `start` argv and a `promote`."""

    stateless: bool = Field(False, description="the app keeps no replicated data: it starts ahead in full, with its "
                            "own start argv, and passes its health checks before the source stops")
    start: Argv | None = Field(None, description="argv of the warm process: it binds its port, answers its health as "
                               "not ready and opens no data until promoted (same templates as the app's start)")
    promote: Promote | None = Field(None, description="what makes the warm process open its data and serve")

    @model_validator(mode="after")
    def _one_kind(self) -> "Warm":
        if self.stateless and (self.start or self.promote):
            raise ValueError("a stateless app starts ahead with its own start argv: drop 'start' and 'promote', "
                             "or drop 'stateless'")
        if not self.stateless and not (self.start and self.promote):
            raise ValueError("give 'start' (the warm process's argv) and 'promote' (e.g. {signal: SIGUSR1}), "
                             "or 'stateless: true' for an app that keeps no replicated data")
        return self

    @property
    def standby(self) -> bool:
        """Whether the app waits as a warm process to promote (it keeps replicated data)."""
        return not self.stateless
