"""Pydantic validation errors turned into located, readable runbook issues."""

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from standby.document import DocPath, Document
from standby.issues import Issue
from standby.suggest import did_you_mean

_YAML_TYPES = {str: "a string", int: "a number", float: "a number", bool: "true/false", list: "a list",
               dict: "a mapping"}
_PATTERN_HINTS = {
    "A-Za-z0-9": "a name uses letters, digits, '-', '_' and '.', and starts with a letter or digit",
    "\\x00": "an argument cannot hold a NUL character",
    "pre_launch": "expected before, after, before_group:GROUP, after_group:GROUP, pre_launch:APP or post_launch:APP",
}


def issues_from(error: ValidationError, document: Document, model: type[BaseModel]) -> list[Issue]:
    """Every error of a failed validation, with its place in the file."""
    return [_issue(detail, document, model) for detail in error.errors(include_url=False)]


def _issue(detail: ErrorDetails, document: Document, model: type[BaseModel]) -> Issue:
    path, is_key = _data_path(detail["loc"], document.data)
    kind = detail["type"]
    if kind == "missing":
        return document.issue(path, f"missing required key '{path[-1]}'", at=path[:-1], category="schema")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, detail["loc"][:-1])
        message = f"unknown key '{path[-1]}'{did_you_mean(str(path[-1]), allowed)}"
        if not did_you_mean(str(path[-1]), allowed) and allowed:
            message += f"; expected one of: {', '.join(sorted(allowed))}"
        return document.issue(path, message, key=True, category="schema")
    if kind == "union_tag_invalid":
        path = (*path, "provider")
    if kind == "empty_program":
        path = (*path, 0)
    return document.issue(path, _message(detail, document.words.get(path)), key=is_key, category="schema")


def _data_path(loc: tuple[int | str, ...], data: Any) -> tuple[DocPath, bool]:
    """The path in the document of a pydantic `loc`, without union tags."""
    path: list[str | int] = []
    cursor = data
    for index, part in enumerate(loc):
        if part == "[key]":
            return tuple(path), True
        if isinstance(cursor, dict) and part in cursor:
            cursor, part = cursor[part], str(part)  # YAML keys such as 1 or true stand in the file as text
        elif isinstance(cursor, list) and isinstance(part, int) and part < len(cursor):
            cursor = cursor[part]
        elif index != len(loc) - 1:
            continue  # a union tag such as 'local' or 'function-after[...]'
        path.append(part)
    return tuple(path), False


def _message(detail: ErrorDetails, word: str | None) -> str:
    kind, ctx, value = detail["type"], detail.get("ctx", {}), detail["input"]
    if kind == "union_tag_invalid":
        expected = ctx["expected_tags"].replace("'", "")
        hint = did_you_mean(ctx["tag"], expected.split(", "))
        return f"unknown {ctx['discriminator'].strip(chr(39))} '{ctx['tag']}'{hint}; expected one of: {expected}"
    if kind == "union_tag_not_found":
        return f"missing required key {ctx['discriminator']}"
    if kind == "literal_error":
        options = [o.strip(" '") for o in ctx["expected"].replace(" or ", ", ").split(",")]
        return f"expected {ctx['expected']}, got {_show(value, word)}{did_you_mean(str(value), options)}"
    if kind == "string_pattern_mismatch":
        hint = next((h for key, h in _PATTERN_HINTS.items() if key in ctx["pattern"]), "")
        return f"{_show(value, word)} is not valid: {hint or 'it must match ' + ctx['pattern']}"
    if kind == "value_error":
        return str(ctx.get("error", detail["msg"]))
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys to values, got {_show(value, word)}"
    message = detail["msg"]
    if message.startswith("Input should be"):
        expected = message[len("Input should be ") :].replace("a valid ", "a ")
        return f"expected {expected}, got {_show(value, word)}"
    return message[0].lower() + message[1:]


def _show(value: Any, word: str | None = None) -> str:
    kind = _YAML_TYPES.get(type(value), type(value).__name__)
    if word is not None and isinstance(value, (bool, type(None))):
        # `no`, `on`, `~`: what YAML 1.1 reads is not what the author wrote; say both, and how to keep the word.
        return f"'{word}', which YAML reads as {'nothing' if value is None else kind} (quote it to keep the word)"
    if isinstance(value, (dict, list)) or value is None:
        return "nothing" if value is None else kind
    return f"{kind} '{word if word is not None else value}'"


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> set[str]:
    """Keys a mapping at `loc` accepts, found by walking the model's types."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return set()
    current = _unwrap(current)
    return set(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else set()


def _step(annotation: Any, part: int | str) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field else None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (list, tuple):
        return args[0] if args else None
    if origin is dict:
        return args[1]
    if origin in (typing.Union, types.UnionType):
        return next((m for m in args if _tag_of(m) == part), None)
    return None


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return _unwrap(rest[0]) if len(rest) == 1 else annotation
    return annotation


def _tag_of(member: Any) -> Any:
    member = _unwrap(member)
    if isinstance(member, type) and issubclass(member, BaseModel) and "provider" in member.model_fields:
        return typing.get_args(member.model_fields["provider"].annotation)[0]
    return None
