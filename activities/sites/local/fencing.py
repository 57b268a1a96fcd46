"""The newest fencing epoch a site has seen for an app: launches, starts and moves of an older epoch are refused."""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path

from activities.sites.local.processes import replace_atomically


class StaleEpoch(Exception):
    """A call of an older epoch than one already seen: a newer operation fenced the one that makes it."""

    def __init__(self, epoch: int, newest: int, what: str):
        super().__init__(f"stale epoch {epoch} < {newest}: {what} holds epoch {newest}, written by a newer operation")
        self.epoch, self.newest = epoch, newest


def recorded(record: Path) -> int:
    """The epoch in the record (0 when there is none yet); OSError when the site's folder cannot be read."""
    try:
        return int(json.loads(record.read_text())["epoch"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return 0


@contextlib.contextmanager
def _locked(record: Path) -> Iterator[None]:
    record.parent.mkdir(parents=True, exist_ok=True)
    with open(record.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def admit(record: Path, epoch: int, what: str, floor: int = 0) -> None:
    """Records the epoch, or raises StaleEpoch when it is older than the record or than `floor`.

    `floor` is the newest epoch seen elsewhere (the app's endpoint routes), so a site that missed the
    fencing operation still refuses what it fenced.
    """
    with _locked(record):
        seen = recorded(record)
        if epoch < max(seen, floor):
            raise StaleEpoch(epoch, max(seen, floor), what)
        if epoch > seen:
            replace_atomically(record, json.dumps({"epoch": epoch}))
