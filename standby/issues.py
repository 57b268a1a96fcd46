"""Issues found in a runbook, and the one exception that carries all of them.

    RunbookError            raised once, with every error of every file
      .issues: list[Issue]  sorted by file, line, column

An issue is an error (the runbook cannot be used) or a warning (it can, but probably not as meant).
An error of category "file" means the file is not a runbook at all: unreadable, not text, not a mapping.
"""

from collections.abc import Iterable
from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"
NOT_A_RUNBOOK = "file"


@dataclass(frozen=True, order=True)
class Issue:
    """One problem at one place: `FILE:LINE:COL: DOC.PATH: message` (warnings say `warning:` first)."""

    file: str
    line: int
    column: int
    path: str
    message: str
    category: str = "semantic"
    severity: str = ERROR

    def __str__(self) -> str:
        label = "warning: " if self.severity == WARNING else ""
        return f"{self.file}:{self.line}:{self.column}: {label}{self.path}: {self.message}"

    @property
    def is_error(self) -> bool:
        """Whether the runbook cannot be used as it stands."""
        return self.severity == ERROR


def errors(issues: Iterable[Issue]) -> list[Issue]:
    """The issues that are errors, not warnings."""
    return [issue for issue in issues if issue.is_error]


def exit_code(issues: Iterable[Issue], strict: bool = False) -> int:
    """2 if a file is not a runbook, 1 if there are errors (or warnings, when strict), else 0."""
    found = list(issues)
    if any(issue.category == NOT_A_RUNBOOK for issue in found):
        return 2
    if errors(found) or (strict and found):
        return 1
    return 0


class RunbookError(Exception):
    """A runbook that cannot be used, with every reason why."""

    def __init__(self, issues: list[Issue]):
        self.issues = sorted(set(issues))
        super().__init__("\n".join(str(issue) for issue in self.issues))

    @property
    def exit_code(self) -> int:
        """The exit code a command ends with for these issues."""
        return exit_code(self.issues)
