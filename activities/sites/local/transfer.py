"""What a replication pass sends between the sites: rsync's delta transfer and compression, and its byte counts.

rsync between two local folders copies each changed file whole and ignores compression (`--whole-file` is implied
for local copies). So a pass runs the source side's rsync behind a remote shell that is a pipe on this host: the two
rsync processes then speak rsync's protocol as they would over ssh between two sites, with block-checksum deltas
against the previous point and a compressed stream, and --stats counts the bytes that stream really carried.
"""

from __future__ import annotations

import re
from pathlib import Path

from standby.contracts.sites import Transfer

# rsync runs `<shell> <host> rsync --server ...`; this shell drops the host and runs the rest on this host.
_PIPE = "sh -c 'shift; exec \"$@\"' standby-pipe"
_HOST = "localhost"


class StatsError(Exception):
    """rsync's --stats output lacks a figure a pass needs; the message carries the output."""


def pull(source: Path) -> list[str]:
    """The rsync options and source argument of a compressed delta transfer pulling `source`'s contents."""
    return ["--compress", "--no-whole-file", "-e", _PIPE, f"{_HOST}:{source}/"]


def stat(output: str, label: str) -> int:
    """A number from rsync's --stats output (LC_ALL=C; digit grouping removed)."""
    found = re.search(rf"^{label}: ([\d,.]+)", output, re.MULTILINE)
    if found is None:
        raise StatsError(f"rsync printed no '{label}'; its output was:\n{output}")
    return int(re.sub(r"[,.]", "", found.group(1)))


def measured(output: str, changed: bool) -> tuple[Transfer, int]:
    """A pass's bytes from its --stats (what changed, what a whole-file copy would send, what crossed) and its files.

    The pulling side's "sent" (block checksums) and "received" (literal data and matches) both cross between sites;
    so do the file list and checksums of a pass that found nothing changed.
    """
    moved = Transfer(passes=int(changed), changed_bytes=stat(output, "Literal data"),
                     files_bytes=stat(output, "Total transferred file size"),
                     sent_bytes=stat(output, "Total bytes sent") + stat(output, "Total bytes received"))
    return moved, stat(output, "Number of regular files transferred")
