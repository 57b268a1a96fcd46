"""YAML loading that remembers where every key and value stands in the file."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from standby.issues import Issue

DocPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    """A 1-based line and column."""

    line: int
    column: int


@dataclass
class Document:
    """Parsed YAML data plus the position of every key and value in it."""

    file: str
    data: Any
    values: dict[DocPath, Position] = field(default_factory=dict)
    keys: dict[DocPath, Position] = field(default_factory=dict)

    def position(self, path: DocPath, *, key: bool = False) -> Position:
        """Where `path` stands; the nearest enclosing node when it does not exist."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            found = (self.keys.get(prefix) if key else None) or self.values.get(prefix)
            if found:
                return found
        return Position(1, 1)

    def issue(
        self, path: DocPath, message: str, *, key: bool = False, at: DocPath | None = None, category: str = "semantic"
    ) -> Issue:
        """An issue about `path`, located at `path` (or at `at`, e.g. the mapping that lacks a key)."""
        where = self.position(path if at is None else at, key=key)
        return Issue(self.file, where.line, where.column, format_path(path), message, category)


def format_path(path: DocPath) -> str:
    """`('apps', 'api', 'depends_on', 0)` -> `apps.api.depends_on[0]`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def read(path: Path) -> tuple[Document | None, list[Issue]]:
    """Parse a YAML file; syntax errors and duplicate keys come back as issues."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [Issue(name, 1, 1, "(document)", f"cannot read the file: {error}", "syntax")]
    return parse(text, name)


def parse(text: str, name: str) -> tuple[Document | None, list[Issue]]:
    """Parse YAML text named `name`."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        return None, [_syntax_issue(name, error)]
    if node is None or (isinstance(node, yaml.ScalarNode) and node.value == ""):
        return None, [Issue(name, 1, 1, "(document)", "the file is empty; a runbook starts with 'runbook: NAME'", "syntax")]
    document = Document(name, None)
    issues: list[Issue] = []
    # Indexing drops repeated keys from the tree, so the data keeps the first value, as the positions do.
    try:
        _index(node, (), document, issues)
    except _RecursiveAlias as error:
        return None, [document.issue(error.path, _RECURSIVE, key=True, category="syntax")]
    try:
        document.data = yaml.SafeLoader(text).construct_document(node)
    except yaml.MarkedYAMLError as error:
        return None, [_syntax_issue(name, error)]
    return document, issues


def _syntax_issue(name: str, error: yaml.MarkedYAMLError) -> Issue:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = error.problem or error.context or "cannot parse"
    context = error.context_mark
    if error.context and error.problem and context and (context.line, context.column) != (mark.line, mark.column):
        what += f" ({error.context} started at line {context.line + 1}, column {context.column + 1})"
    return Issue(name, line, column, "(document)", f"YAML syntax error: {what}", "syntax")


def _mark(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


_RECURSIVE = "YAML syntax error: an alias refers to a node that contains it; a runbook cannot be recursive"


class _RecursiveAlias(Exception):
    """An alias inside the node it names (`a: &x [*x]`)."""

    def __init__(self, path: DocPath):
        super().__init__(format_path(path))
        self.path = path


def _index(
    node: yaml.Node, path: DocPath, document: Document, issues: list[Issue], open_: frozenset[int] = frozenset()
) -> None:
    if id(node) in open_:
        raise _RecursiveAlias(path)
    open_ = open_ | {id(node)}
    document.values[path] = _mark(node)
    if isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _index(child, (*path, index), document, issues, open_)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[str, Position] = {}
        kept = []
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                first = seen[key]
                message = f"duplicate key '{key}' (first at line {first.line}); remove one of them"
                issues.append(Issue(document.file, *_astuple(_mark(key_node)), format_path(child), message, "syntax"))
                continue
            seen[key] = _mark(key_node)
            kept.append((key_node, value_node))
            document.keys[child] = _mark(key_node)
            _index(value_node, child, document, issues, open_)
        node.value = kept


def _astuple(position: Position) -> tuple[int, int]:
    return position.line, position.column
