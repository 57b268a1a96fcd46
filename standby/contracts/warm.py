"""Inputs and results of a warm switchover's activities (standby.warm): the warm start and the cutover."""

from pydantic import BaseModel, Field

from standby.contracts.batches import LaunchBatchInput
from standby.contracts.sites import RecoveryPoint, SiteRef, Target


class CutOverInput(LaunchBatchInput):
    """Promote, check and move the identity of some warm apps at `site`, one after the other in the order given."""

    targets: list[Target] = Field([], description="what the warm start started: the stateless apps' targets")
    peers: list[SiteRef] = Field([], description="the runbook's other sites, whose routes an identity move follows")
    move: bool = Field(True, description="False: promote only (the app's post-launch hooks run before its health)")


class CutOverProgress(BaseModel):
    """What a cutover has done so far, app by app: its heartbeat details, and at the end its result.

    A retry after a crash reads them back: an app already cut over is not promoted or moved again.
    """

    points: dict[str, RecoveryPoint] = Field({}, description="machine -> the point a promoted machine opened")
    targets: list[Target] = []
    done: dict[str, str] = Field({}, description="app -> what its cutover did (promoted, healthy, moved)")
