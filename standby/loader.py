"""Load runbooks: YAML syntax, then the schema, then cross-section checks, every issue at once."""

from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from standby import semantics
from standby.issues import Issue, RunbookError
from standby.runbook import Runbook
from standby.schema_errors import issues_from
from standby.source import read


def check(path: Path) -> tuple[Runbook | None, list[Issue]]:
    """A runbook and the issues found in it; the runbook is None when its schema fails."""
    document, issues = read(path)
    if document is None:
        return None, issues
    if not isinstance(document.data, dict):
        return None, [*issues, document.issue((), "a runbook is a mapping that starts with 'runbook: NAME'", category="schema")]
    try:
        runbook = Runbook.model_validate(document.data)
    except ValidationError as error:
        return None, [*issues, *issues_from(error, document, Runbook)]
    return runbook, [*issues, *semantics.detect_all(runbook, document)]


def load(path: str | Path) -> Runbook:
    """A valid runbook, or RunbookError with every issue found."""
    runbook, issues = check(Path(path))
    if issues or runbook is None:
        raise RunbookError(issues)
    return runbook


def load_all(paths: Iterable[str | Path]) -> list[Runbook]:
    """Several runbooks; one RunbookError carries the issues of all of them."""
    runbooks, issues = [], []
    for path in paths:
        runbook, found = check(Path(path))
        issues.extend(found)
        if runbook is not None:
            runbooks.append(runbook)
    if issues:
        raise RunbookError(issues)
    return runbooks
