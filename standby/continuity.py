"""Continuous availability in the runbook: protection pairs and trios, their heartbeats, witnesses and monitor.

A pair is an active and a passive site that exchange heartbeats; before the passive acts on lost heartbeats
it polls the witnesses; the monitor watches each app of the pair where it serves and climbs its remediation
ladder (restart, then the `then` rung) on faults; performance rules act when a metric holds past a threshold.
"""

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from standby.durations import Duration
from standby.runbook_base import Argv, Name, Strict

# Pair fields of earlier versions, and where their values go now.
_MOVED = {"heartbeat_interval": "heartbeat: {interval: ...}", "missed_heartbeats": "heartbeat: {missed: ...}"}


def _host_port(text: str) -> str:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"'{text}' is not host:port (a port from 1 to 65535), e.g. 127.0.0.1:19001")
    return text


Address = Annotated[str, Field(pattern=r"^\S+:\d{1,5}$", examples=["127.0.0.1:19001"]), AfterValidator(_host_port)]


def split_address(address: str) -> tuple[str, int]:
    """`127.0.0.1:19001` -> ("127.0.0.1", 19001); `[::1]:53` -> ("::1", 53)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class Heartbeat(Strict):
    """How the sites of a pair hear each other: every `interval`; lost after `missed` intervals unheard."""

    interval: Duration = timedelta(seconds=1)
    missed: Annotated[int, Field(ge=1, le=100)] = 3
    grace: Duration = Field(timedelta(seconds=1), description=(
        "how long past the active's lease the passive still waits before it takes over (clock skew, delivery)"))
    listen: dict[Name, Address] = Field({}, description=(
        "where each site's worker hears heartbeats (UDP) and polls witnesses from (TCP), by site; "
        "heartbeats run when it is given"))

    def lost_after(self) -> timedelta:
        """How long a peer may stay unheard before it is lost; also the active's lease."""
        return self.interval * self.missed


class Restart(Strict):
    """The ladder's first rungs: restart the app where it serves, up to `times` times, `spacing` apart."""

    times: Annotated[int, Field(ge=0, le=20)] = 2
    spacing: Duration = Field(timedelta(seconds=30), description="the least time between two restarts of an app")


Metric = Literal["cpu", "memory", "disk", "latency"]


class Rule(Strict):
    """A performance rule: `action` when `metric` stays above (or below) a threshold `for` a duration.

    cpu is percent of one core, memory MiB resident, disk MiB of the app's data folder, latency seconds of
    its slowest health check; cpu, memory and disk are read on local sites only.
    """

    # `for` is a Python keyword: the field is for_, written `for` in a runbook; by name too, as payloads carry it.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    metric: Metric
    above: float | None = None
    below: float | None = None
    for_: Duration = Field(timedelta(seconds=30), alias="for", description="how long the threshold must hold")
    action: Literal["alert", "restart", "switchover"] = "alert"

    @model_validator(mode="after")
    def _one_bound(self) -> "Rule":
        if (self.above is None) == (self.below is None):
            raise ValueError("a rule has one of 'above' or 'below', the threshold the metric must pass")
        return self

    def describe(self) -> str:
        """`cpu above 90 for 1m`."""
        side, value = ("above", self.above) if self.above is not None else ("below", self.below)
        return f"{self.metric} {side} {value:g} for {int(self.for_.total_seconds())}s"

    def breached(self, value: float) -> bool:
        """Whether a reading passes the threshold."""
        return value > self.above if self.above is not None else value < (self.below or 0.0)


class Monitor(Strict):
    """Application monitoring of a pair's apps and their remediation ladder."""

    interval: Duration = Field(timedelta(seconds=5), description="how often each app's health checks run")
    threshold: Annotated[int, Field(ge=1, le=100)] = Field(2, description=(
        "consecutive failed checks that make a fault; one fault starts one action"))
    expiry: Duration = Field(timedelta(minutes=10), description=(
        "faults and restarts older than this are forgotten: the ladder starts again from its first rung"))
    restart: Restart = Restart()
    then: Literal["switchover", "failover", "alert"] = Field("switchover", description=(
        "the rung after the restarts: switch the app's group over, fail it over, or only alert"))
    rules: list[Rule] = []


class Pair(Strict):
    """A continuity pair or trio: the primary and secondary swap roles; a tertiary is a DR copy elsewhere."""

    primary: Name
    secondary: Name
    tertiary: Name | None = None
    apps: Annotated[list[Name], Field(min_length=1)]
    failover: Literal["automatic", "managed"] = Field("managed", description=(
        "on a confirmed loss of the active: fail over at once, or alert and wait for an approved `standby failover`"))
    heartbeat: Heartbeat = Heartbeat()
    witnesses: Annotated[list[Address], Field(max_length=3, description=(
        "up to three addresses on another path (a router, a DNS server, a third site) the passive must reach "
        "before it believes the active is gone"))] = []
    monitor: Monitor | None = Field(None, description="watch the pair's apps where they serve (off when unset)")
    on_alert: Argv | None = Field(None, description=(
        "command run on an alert, with the facts in STANDBY_* variables (runbook, pair, event, site, detail)"))

    @model_validator(mode="before")
    @classmethod
    def _moved_fields(cls, value: Any) -> Any:
        if isinstance(value, dict):
            moved = [f"'{old}' is now {new}" for old, new in _MOVED.items() if old in value]
            if moved:
                raise ValueError("; ".join(moved) + " (see runbooks/vsphere-erp.yaml)")
        return value

    def nodes(self) -> list[str]:
        """Sites of the pair in identity order: primary, secondary, tertiary."""
        return [n for n in (self.primary, self.secondary, self.tertiary) if n]
