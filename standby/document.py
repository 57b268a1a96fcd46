"""A parsed runbook file: its data and where every key and value stands, to locate issues."""

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from standby.issues import ERROR, Issue
from standby.suggest import Vocabulary

DocPath = tuple[str | int, ...]


class Position(NamedTuple):
    """A 1-based line and column (a tuple: a large runbook holds hundreds of thousands)."""

    line: int
    column: int


@dataclass
class Document:
    """Parsed YAML data plus the position of every key and value in it.

    `values` and `keys` hold (line, column) pairs; `words` keeps what the author wrote for values YAML read
    as something else than text (`no` -> false).
    """

    file: str
    data: Any
    values: dict[DocPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[DocPath, tuple[int, int]] = field(default_factory=dict)
    words: dict[DocPath, str] = field(default_factory=dict)

    def position(self, path: DocPath, *, key: bool = False) -> Position:
        """Where `path` stands; the nearest enclosing node when it does not exist."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            found = (self.keys.get(prefix) if key else None) or self.values.get(prefix)
            if found:
                return Position(*found)
        return Position(1, 1)

    def issue(
        self, path: DocPath, message: str, *, key: bool = False, at: DocPath | None = None, category: str = "semantic",
        severity: str = ERROR,
    ) -> Issue:
        """An issue about `path`, located at `path` (or at `at`, e.g. the mapping that lacks a key)."""
        where = self.position(path if at is None else at, key=key)
        return Issue(self.file, where.line, where.column, format_path(path), message, category, severity)

    def unknown(self, path: DocPath, what: str, name: str, known: Vocabulary) -> Issue:
        """`unknown app 'dbb' (did you mean 'db'?)`, or the known names when none is close."""
        hint = known.hint(name) or (f"; known: {known.listing()}" if known.names else "")
        return self.issue(path, f"unknown {what} '{name}'{hint}")


def format_path(path: DocPath) -> str:
    """`('apps', 'api', 'depends_on', 0)` -> `apps.api.depends_on[0]`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"
