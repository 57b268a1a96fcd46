"""Inputs, results and progress records of the batch activities: many machines of one site in one activity.

What every machine of a batch shares (key, sites, mode, epoch, endpoints, places) travels once, not per machine,
so that a batch of 200 machines stays far below Temporal's 2 MiB payload limit.
"""

from datetime import datetime

from pydantic import BaseModel, Field

from standby.contracts.sites import AppRef, LaunchInput, Mode, RecoveryPoint, SiteRef, StopResult, Target

# Machines in one batch: AWS DRS StartRecovery takes up to 200 source servers per call. Stops and the bound on a
# group's launch activities (workflows/group.py) still count in these.
BATCH_MACHINES = 200
# Machines in one launch activity since `workflow.patched("larger-launch-batches")`: the AWS provider cuts them into
# StartRecovery calls of 200 itself. Each activity more that ends a group's wave is a workflow task more before the
# next one starts (two for 360 machines, one workflow task of about 30 ms more per group on the 2-core machine);
# 500 machines' inputs, heartbeats and results stay far below Temporal's 2 MiB.
LAUNCH_MACHINES = 500


class LaunchBatchInput(BaseModel):
    """Launch every machine of some apps at `site`, each app from one moment, idempotent on `key`."""

    key: str
    site: SiteRef
    source: SiteRef
    mode: Mode
    apps: list[AppRef]
    at_or_before: datetime | None = Field(None, description="the operator's point: each app's newest moment at or "
                                          "before it; None: the newest moment")
    endpoints: dict[str, int] = {}
    places: dict[str, int] = {}
    epoch: int = 0
    after: dict[str, list[str]] = Field({}, description="app -> the apps of this batch it starts after: each is "
                                        "healthy once launched, so the app starts as soon as they launched, "
                                        "without a workflow task in between (workflows/ready.py)")

    def launch(self, app: AppRef, machine: str, point: RecoveryPoint | None) -> LaunchInput:
        """The launch of one machine of the batch.

        Built from this batch's fields, validated already: validating them again per machine would copy the
        batch's `places` (every app of the runbook) once per machine, most of a 10,000-machine failover's CPU.
        """
        ref = next(m for m in app.machines if m.name == machine)
        return LaunchInput.model_construct(key=self.key, site=self.site, source=self.source, app=app, machine=ref,
                                           mode=self.mode, point=point, endpoints=self.endpoints, places=self.places,
                                           epoch=self.epoch)


class LaunchProgress(BaseModel):
    """What a batch launch has done so far: its heartbeat details, and at the end its result.

    A retry after a crash reads them back: it launches from the points already chosen, and only the machines
    without a target yet.
    """

    points: dict[str, RecoveryPoint] = Field({}, description="machine -> the point it launches from")
    targets: list[Target] = []
    failed: dict[str, str] = Field({}, description="machine -> why its launch failed in the last attempt; a retry "
                                   "launches it again")
    began: dict[str, datetime] = Field({}, description="app -> when its launch began, for an app that started after "
                                       "others of its batch (LaunchBatchInput.after), by the site worker's clock")
    ended: dict[str, datetime] = Field({}, description="app -> when its last machine launched, for an app that others "
                                       "of its batch started after, by the same clock")


class StopBatchInput(BaseModel):
    """Stop the machines of some apps at `site`."""

    site: SiteRef
    apps: list[AppRef]
    in_order: bool = Field(False, description="one after the other, in the order given (dependents first); "
                           "False: all at once")


class StopProgress(BaseModel):
    """The apps of a batch stopped so far: heartbeat details, and at the end the result."""

    results: list[StopResult] = []


def batches(machines: dict[str, int], limit: int = BATCH_MACHINES) -> list[list[str]]:
    """Names (apps, in order) cut into batches of at most `limit` machines; an app is never split."""
    out: list[list[str]] = []
    size = 0
    for name, count in machines.items():
        if not out or size + count > limit:
            out.append([])
            size = 0
        out[-1].append(name)
        size += count
    return out
