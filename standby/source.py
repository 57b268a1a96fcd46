"""Reading a runbook file: bounded in bytes, decoded as UTF-8, composed within the limits of `standby.compose`."""

from pathlib import Path

import yaml

from standby.compose import MAX_BYTES, Composer, Stop
from standby.document import Document, format_path
from standby.issues import NOT_A_RUNBOOK, Issue


def read(path: Path) -> tuple[Document | None, list[Issue]]:
    """Parse a YAML file; syntax errors, duplicate keys and crossed limits come back as issues."""
    name = str(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)
    except OSError as error:
        return None, [_file_issue(name, f"cannot read the file: {error.strerror or error}")]
    if len(raw) > MAX_BYTES:
        message = f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB, the most a runbook may be"
        return None, [Issue(name, 1, 1, "(document)", message, "syntax")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return None, [_file_issue(name, f"not a text file: byte {error.start} is not UTF-8; save the runbook as UTF-8")]
    return parse(text, name)


def parse(text: str, name: str) -> tuple[Document | None, list[Issue]]:
    """Parse YAML text named `name`."""
    document, issues = Document(name, None), list[Issue]()
    try:
        document.data = Composer(document, issues).run(text)
    except Stop as stop:
        where = stop.position
        return None, [*issues, Issue(name, where.line, where.column, format_path(stop.path), stop.message, "syntax")]
    except yaml.MarkedYAMLError as error:
        return None, [*issues, _syntax_issue(name, error)]
    except yaml.reader.ReaderError as error:
        line, column = _at_byte(text, error.position)
        return None, [*issues, Issue(name, line, column, "(document)", f"YAML syntax error: {_reader_reason(error)}",
                                     "syntax")]
    except UnicodeError as error:
        return None, [_file_issue(name, f"not a text file: {error}")]
    if document.data is None or document.data == "":
        return None, [_file_issue(name, "the file is empty; a runbook starts with 'runbook: NAME'")]
    return document, issues


def _file_issue(name: str, message: str) -> Issue:
    return Issue(name, 1, 1, "(document)", message, NOT_A_RUNBOOK)


def _syntax_issue(name: str, error: yaml.MarkedYAMLError) -> Issue:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = error.problem or error.context or "cannot parse"
    context = error.context_mark
    if error.context and error.problem and context and mark and (context.line, context.column) != (mark.line,
                                                                                                   mark.column):
        what += f" ({error.context} started at line {context.line + 1}, column {context.column + 1})"
    return Issue(name, line, column, "(document)", f"YAML syntax error: {what}", "syntax")


def _reader_reason(error: yaml.reader.ReaderError) -> str:
    if isinstance(error.character, int):
        return f"character #x{error.character:04x} is not allowed ({error.reason}); remove it"
    return str(error.reason)


def _at_byte(text: str, offset: int) -> tuple[int, int]:
    """Line and column of a byte offset, as libyaml counts positions in the UTF-8 encoding."""
    before = text.encode("utf-8")[:offset].decode("utf-8", errors="ignore")
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
