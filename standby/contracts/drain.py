"""The drain and the replication pause that follows it, in one activity at the target site."""

from pydantic import BaseModel, Field

from standby.contracts.sites import DirectionInput, MachineReplication, ReplicationInput


class DrainThenDirectionInput(BaseModel):
    """A drain pass (`drain`), then replication set as `direction` says: a failover's two steps after the stop."""

    drain: ReplicationInput
    direction: DirectionInput


class Drained(BaseModel):
    """What the drain left behind, and what setting the direction did."""

    behind: list[MachineReplication] = Field([], description="the machines not in continuous data protection")
    direction: str | None = Field(None, description="what the target stopped to make way, if anything")
