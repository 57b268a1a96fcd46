"""Load runbooks: YAML within limits, then the schema and the cross-section checks, every issue in one run."""

from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from standby import semantics
from standby.document import Document
from standby.issues import NOT_A_RUNBOOK, Issue, RunbookError, errors
from standby.partial import Partial
from standby.runbook import Runbook
from standby.schema_errors import issues_from
from standby.source import read
from standby.suggest import Vocabulary


def check(path: Path) -> tuple[Runbook | None, list[Issue]]:
    """A runbook and the issues (errors and warnings) found in it; the runbook is None when its schema fails."""
    document, issues = read(path)
    if document is None:
        return None, issues
    refusal = _not_a_runbook(document)
    if refusal is not None:
        return None, [*issues, refusal]
    try:
        runbook = Runbook.model_validate(document.data)
    except ValidationError as error:
        partial = Partial.salvage(document.data)
        return None, [*issues, *issues_from(error, document, Runbook), *semantics.detect_all(partial, document)]
    return runbook, [*issues, *semantics.detect_all(Partial.of(runbook), document)]


def load(path: str | Path) -> Runbook:
    """A valid runbook (warnings allowed), or RunbookError with every error found."""
    runbook, issues = check(Path(path))
    if errors(issues) or runbook is None:
        raise RunbookError(errors(issues))
    return runbook


def load_all(paths: Iterable[str | Path]) -> list[Runbook]:
    """Several runbooks; one RunbookError carries the errors of all of them."""
    runbooks, found = [], []
    for path in paths:
        runbook, issues = check(Path(path))
        found.extend(errors(issues))
        if runbook is not None:
            runbooks.append(runbook)
    if found:
        raise RunbookError(found)
    return runbooks


def _not_a_runbook(document: Document) -> Issue | None:
    """Why a YAML document is not a runbook at all: not a mapping, or none of its keys a runbook's."""
    data = document.data
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a single value"
        return document.issue((), f"not a runbook: the file holds {kind}; a runbook is a mapping that starts with "
                                  "'runbook: NAME'", category=NOT_A_RUNBOOK)
    if set(data) & set(Runbook.model_fields):
        return None
    keys = Vocabulary(data).listing()
    return document.issue((), f"not a runbook: none of its keys ({keys}) is a runbook's; a runbook starts with "
                              "'runbook: NAME'", category=NOT_A_RUNBOOK)
