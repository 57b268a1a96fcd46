"""The drain and the replication pause that follows it, in one activity at the target site."""

from pydantic import BaseModel, Field

from standby.contracts.sites import DirectionInput, MachineReplication, ReplicationInput


class DrainThenDirectionInput(BaseModel):
    """A drain pass (`drain`), then replication of its machines between its sites set running or paused (a
    failover's two steps after the stop); `direction` when the direction is of other machines."""

    drain: ReplicationInput
    running: bool = False
    direction: DirectionInput | None = None

    def direction_input(self) -> DirectionInput:
        """The direction to set: of the drain's machines unless `direction` says otherwise (which saves sending
        thousands of machines twice)."""
        return self.direction or DirectionInput(source=self.drain.source, target=self.drain.target,
                                                machines=self.drain.machines, running=self.running)


class Drained(BaseModel):
    """What the drain left behind, and what setting the direction did."""

    behind: list[MachineReplication] = Field([], description="the machines not in continuous data protection")
    direction: str | None = Field(None, description="what the target stopped to make way, if anything")
