"""Issues found in a runbook, and the one exception that carries all of them.

    RunbookError            raised once, with every issue of every file
      .issues: list[Issue]  sorted by file, line, column
"""

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Issue:
    """One problem at one place: `FILE:LINE:COL: DOC.PATH: message`."""

    file: str
    line: int
    column: int
    path: str
    message: str
    category: str = "semantic"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.path}: {self.message}"


class RunbookError(Exception):
    """A runbook that cannot be used, with every reason why."""

    def __init__(self, issues: list[Issue]):
        self.issues = sorted(set(issues))
        super().__init__("\n".join(str(issue) for issue in self.issues))
