"""YAML events to plain data, in one loop without recursion, within the limits a runbook may expand to.

libyaml parses; this module builds the dicts and lists itself so that it can stop, at the place that
crosses a limit, before aliases multiply a few hundred bytes into gigabytes or nesting exhausts the stack.
It records the position of every key and value, and reports what YAML reads differently from what was
written (`on:` as true, `1:` as a number) at the key itself, with the word the author wrote.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import events

from standby.document import DocPath, Document, Position, format_path
from standby.issues import Issue

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 32
MAX_VALUES = 200_000

_PARSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# The first character of a plain scalar (None: any) -> the (tag, pattern) pairs that may resolve it.
_IMPLICIT: dict[str | None, list[tuple[str, re.Pattern[str]]]] = yaml.resolver.Resolver.yaml_implicit_resolvers
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_TAG = "tag:yaml.org,2002:"
_READS = {"bool": "true/false", "null": "nothing (null)", "int": "a number", "float": "a number", "timestamp": "a date"}
_COLLECTION_TAGS = {None, "!", _TAG + "seq", _TAG + "map"}
_MERGE = _TAG + "merge"
_STR = _TAG + "str"


class Stop(Exception):
    """Composition cannot go on: a limit crossed or a broken alias, at a place in the file."""

    def __init__(self, mark: Any, message: str, path: DocPath = ()):
        super().__init__(message)
        self.position = _position(mark)
        self.message = message
        self.path = path


@dataclass
class _Anchor:
    value: Any
    size: int = 1
    complete: bool = False


@dataclass
class _Frame:
    """A mapping or list being filled; `path` is None for values that are read but dropped (a repeated key)."""

    container: Any
    path: DocPath | None
    mark: Any
    start: int
    anchor: str | None = None
    key: str | None = None
    key_mark: Any = None
    key_state: str = "want"  # want: next event is a key; value: the key is read; merge: `<<` is read; drop
    merges: list[tuple[Any, Any]] = field(default_factory=list)


class Composer:
    """Builds one document's data from parser events, filling `document` with positions and `issues`."""

    def __init__(self, document: Document, issues: list[Issue]):
        self.document = document
        self.issues = issues
        self.stack: list[_Frame] = []
        self.anchors: dict[str, _Anchor] = {}
        self.total = 0
        self.documents = 0
        self.root: Any = None

    def run(self, text: str) -> Any:
        """The data of the single document in `text`."""
        handlers: dict[type, Callable[[Any], None]] = {
            events.DocumentStartEvent: self._document, events.ScalarEvent: self._scalar,
            events.AliasEvent: self._alias, events.SequenceStartEvent: self._open,
            events.MappingStartEvent: self._open, events.SequenceEndEvent: self._close,
            events.MappingEndEvent: self._close,
        }
        parser = _PARSER(text)
        try:
            event = parser.get_event()
            while not isinstance(event, events.StreamEndEvent):
                handler = handlers.get(type(event))
                if handler is not None:
                    handler(event)
                event = parser.get_event()
        finally:
            parser.dispose()
        return self.root

    def _document(self, event: events.DocumentStartEvent) -> None:
        self.documents += 1
        if self.documents > 1:
            raise Stop(event.start_mark, "a runbook file holds one YAML document; remove this '---' and what follows")

    def _count(self, size: int, mark: Any) -> None:
        self.total += size
        if self.total > MAX_VALUES:
            raise Stop(mark, f"the runbook expands to more than {MAX_VALUES:,} values (an alias counts every value it "
                             f"repeats); a runbook may hold at most {MAX_VALUES:,}", self._slot())

    def _scalar(self, event: events.ScalarEvent) -> None:
        top = self.stack[-1] if self.stack else None
        if top is not None and isinstance(top.container, dict) and top.key_state == "want":
            self._key(top, event)
            return
        self._count(1, event.start_mark)
        value, tag, problem = _construct(event)
        path = self._place(value, event.start_mark)
        if problem:
            self._issue(event.start_mark, problem, path)
        if path is not None and tag != "str" and event.value:
            self.document.words[path] = event.value
        if event.anchor:
            self.anchors[event.anchor] = _Anchor(value, 1, True)

    def _key(self, frame: _Frame, event: events.ScalarEvent) -> None:
        tag = event.tag or _resolve(event.value, event.implicit)
        if tag == _MERGE:
            frame.key_state, frame.key_mark = "merge", event.start_mark
            return
        word, short = event.value, _short(tag)
        if event.anchor:
            self.anchors[event.anchor] = _Anchor(word, 1, True)
        if short in _READS and event.tag is None:
            what = "an empty key; write a name" if word == "" else (
                f"YAML reads the key '{word}' as {_READS[short]}; quote it (\"{word}\") to use it as a name")
            self._issue(event.start_mark, what, None if frame.path is None else (*frame.path, word))
        self._take_key(frame, word, event.start_mark)

    def _take_key(self, frame: _Frame, word: str, mark: Any) -> None:
        child = None if frame.path is None else (*frame.path, word)
        if word in frame.container:
            first = self.document.keys.get(child) if child is not None else None
            where = f" (first at line {first[0]})" if first else ""
            self._issue(mark, f"duplicate key '{word}'{where}; remove one of them", child, category="syntax")
            frame.key_state = "drop"
            return
        frame.key, frame.key_mark, frame.key_state = word, mark, "value"
        if child is not None:
            self.document.keys[child] = (mark.line + 1, mark.column + 1)

    def _alias(self, event: events.AliasEvent) -> None:
        anchor = self.anchors.get(event.anchor or "")
        if anchor is None:
            raise Stop(event.start_mark, f"YAML syntax error: unknown alias '*{event.anchor}'; "
                                         f"define '&{event.anchor}' before it", self._slot())
        if not anchor.complete:
            raise Stop(event.start_mark, "YAML syntax error: an alias refers to a node that contains it; "
                                         "a runbook cannot be recursive", self._slot())
        top = self.stack[-1] if self.stack else None
        if top is not None and isinstance(top.container, dict) and top.key_state == "want":
            if not isinstance(anchor.value, str):
                raise Stop(event.start_mark, "a key must be a name, not a list or mapping", self._slot())
            self._take_key(top, anchor.value, event.start_mark)
            return
        self._count(anchor.size, event.start_mark)
        self._place(anchor.value, event.start_mark)

    def _open(self, event: events.CollectionStartEvent) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise Stop(event.start_mark, f"the runbook nests deeper than {MAX_DEPTH} levels, the most a runbook may",
                       self._slot())
        top = self.stack[-1] if self.stack else None
        if top is not None and isinstance(top.container, dict) and top.key_state == "want":
            raise Stop(event.start_mark, "a key must be a name, not a list or mapping", self._slot())
        self._count(1, event.start_mark)
        container: Any = {} if isinstance(event, events.MappingStartEvent) else []
        start = self.total - 1
        path = self._place(container, event.start_mark)
        if event.tag not in _COLLECTION_TAGS:
            self._issue(event.start_mark, _unused_tag(str(event.tag)), path)
        self.stack.append(_Frame(container, path, event.start_mark, start, event.anchor))
        if event.anchor:
            self.anchors[event.anchor] = _Anchor(container)

    def _close(self, _: events.CollectionEndEvent) -> None:
        frame = self.stack.pop()
        if frame.merges:
            self._merge(frame)
        if frame.anchor:
            self.anchors[frame.anchor] = _Anchor(frame.container, self.total - frame.start, True)

    def _slot(self) -> DocPath:
        """The path the next value would take (its enclosing mapping's while a key is being read)."""
        for index in range(len(self.stack) - 1, -1, -1):
            frame = self.stack[index]
            if frame.path is None:
                continue
            if isinstance(frame.container, list):
                return (*frame.path, len(frame.container)) if index == len(self.stack) - 1 else frame.path
            if frame.key_state == "value" and index == len(self.stack) - 1:
                return (*frame.path, str(frame.key))
            return frame.path
        return ()

    def _place(self, value: Any, mark: Any) -> DocPath | None:
        """Put a value where the parser is: the document's root, the next item of a list, or a key's value."""
        if not self.stack:
            self.root = value
            self.document.values[()] = (mark.line + 1, mark.column + 1)
            return ()
        top = self.stack[-1]
        if isinstance(top.container, list):
            path = None if top.path is None else (*top.path, len(top.container))
            top.container.append(value)
        elif top.key_state == "merge":
            top.merges.append((value, top.key_mark))
            top.key_state = "want"
            return None
        elif top.key_state == "drop":
            top.key_state = "want"
            return None
        else:
            path = None if top.path is None else (*top.path, str(top.key))
            top.container[top.key] = value
            top.key_state = "want"
        if path is not None:
            self.document.values[path] = (mark.line + 1, mark.column + 1)
        return path

    def _merge(self, frame: _Frame) -> None:
        """`<<: *base` and `<<: [*a, *b]`: keys written in the mapping win, then earlier merges over later ones."""
        for value, mark in frame.merges:
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(source, dict) for source in sources):
                self._issue(mark, "'<<' merges a mapping, or a list of mappings, into this one", frame.path)
                continue
            for source in sources:
                for key, item in source.items():
                    if key not in frame.container:
                        frame.container[key] = item
                        if frame.path is not None:
                            where = (mark.line + 1, mark.column + 1)
                            self.document.keys[(*frame.path, key)] = self.document.values[(*frame.path, key)] = where

    def _issue(self, mark: Any, message: str, path: DocPath | None = None, category: str = "syntax") -> None:
        where = _position(mark)
        shown = format_path(path) if path is not None else self._where()
        self.issues.append(Issue(self.document.file, where.line, where.column, shown, message, category))

    def _where(self) -> str:
        for frame in reversed(self.stack):
            if frame.path is not None:
                return format_path(frame.path)
        return format_path(())


def _construct(event: events.ScalarEvent) -> tuple[Any, str, str | None]:
    """A scalar's value, the short name of its YAML type, and why it could not be read as that type."""
    written = event.tag if event.tag not in (None, "!") else None
    tag = written or _resolve(event.value, event.implicit)
    if tag == _STR or event.tag == "!":
        return event.value, "str", None
    short = _short(tag)
    if short not in _READS:
        return event.value, "str", _unused_tag(written) if written else None
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)  # type: ignore[arg-type]
    try:
        return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node), short, None
    except (yaml.YAMLError, ValueError, OverflowError):
        return event.value, "str", f"YAML reads '{event.value}' as {_READS[short]}, but it is not one; quote it"


def _resolve(value: str, implicit: tuple[bool, bool]) -> str:
    """The tag YAML 1.1 gives a plain scalar (`yes` -> bool), as PyYAML's resolver does, without its per-node cost."""
    if implicit[0]:
        for tag, pattern in (*_IMPLICIT.get(value[:1], []), *_IMPLICIT.get(None, [])):
            if pattern.match(value):
                return tag
    return _STR


def _unused_tag(tag: str) -> str:
    shown = "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag
    return f"YAML tag '{shown}' is not used in runbooks; remove it"


def _short(tag: str) -> str:
    return tag[len(_TAG):] if tag.startswith(_TAG) else tag


def _position(mark: Any) -> Position:
    return Position(mark.line + 1, mark.column + 1)
