"""A benchmark's figures alone on stdout: whatever else writes there (the dev server's banner, the SDK's log) goes
to stderr, so `--json` output parses as it is."""

import os
import sys
from typing import TextIO


def figures_out() -> TextIO:
    """The real stdout, for the figures; from now on file descriptor 1 and `sys.stdout` are stderr.

    The dev server inherits descriptor 1 and the SDK's core writes its log there from threads of its own, so only
    moving the descriptor itself, for the rest of the process, keeps their lines out of the figures.
    """
    sys.stdout.flush()
    figures = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return figures
