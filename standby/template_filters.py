"""The filters and tests runbook templates may use: what each accepts, takes and gives.

Each entry gives the kinds of the arguments a runbook may pass (after the value), in Jinja's order; their
names come from Jinja's own signatures, so that keyword arguments map to the right place. What is not here
is refused at validation, with the reason where one is worth saying (`attr` reads Python attributes).
"""

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2.filters
import jinja2.tests
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from standby.template_kinds import (
    ANY,
    BOOLEAN,
    NONE,
    NUMBER,
    STRING,
    Kind,
    ListOf,
    Namespace,
    TupleOf,
    common,
    describe,
    is_iterable,
    item_of,
    members,
    ordered_alike,
)

ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
Result = Kind | Callable[[Kind, list[Kind]], Kind]


@dataclass(frozen=True)
class Signature:
    """What a filter or test accepts as its value, the kinds of its optional arguments, and what it gives."""

    accepts: Callable[[Kind], bool]
    wants: str
    params: tuple[tuple[str | None, Kind], ...] = ()
    gives: Result = STRING
    extra: Callable[[Kind, list[Kind]], str | None] | None = None
    required: int = 0

    def position(self, name: str) -> int | None:
        """Where a keyword argument goes among the positional ones (None: no such keyword)."""
        return next((i for i, (param, _) in enumerate(self.params) if param == name), None)

    def problems(self, operand: Kind, given: dict[int, Kind]) -> list[str]:
        """Why this call would fail: the value's kind, arguments missing or too many, an argument's kind."""
        found = []
        if operand != ANY and not all(self.accepts(kind) for kind in members(operand)):
            found.append(f"expects {self.wants}, not {describe(operand)}")
        if given and max(given) >= len(self.params):
            found.append(f"takes at most {len(self.params)} argument(s)")
        for position, (param, wanted) in enumerate(self.params):
            shown = f"'{param}'" if param else str(position + 1)
            if position not in given:
                if position < self.required:
                    found.append(f"argument {shown} must be given")
            elif ANY not in (wanted, given[position]) and given[position] != wanted:
                found.append(f"argument {shown} must be {describe(wanted)}, not {describe(given[position])}")
        problem = self.extra(operand, [given[i] for i in sorted(given)]) if self.extra else None
        return [*found, problem] if problem else found

    def result(self, operand: Kind, args: list[Kind]) -> Kind:
        """The kind the call gives."""
        return self.gives(operand, args) if callable(self.gives) else self.gives


def _anything(kind: Kind) -> bool:
    return True


def _number(kind: Kind) -> bool:
    return kind == NUMBER


def _mapping(kind: Kind) -> bool:
    return isinstance(kind, Namespace)


def _not_list(kind: Kind) -> bool:
    return not isinstance(kind, (ListOf, TupleOf))


def _sortable(kind: Kind) -> bool:
    return is_iterable(kind) and item_of(kind) in (STRING, NUMBER, ANY)


def _same(operand: Kind, args: list[Kind]) -> Kind:
    return operand


def _listed(operand: Kind, args: list[Kind]) -> Kind:
    return ListOf(item_of(operand))


def _pairs(operand: Kind, args: list[Kind]) -> Kind:
    values = common(operand.fields.values()) if isinstance(operand, Namespace) else ANY
    return ListOf(TupleOf((STRING, values)))


def _ordered(operand: Kind, args: list[Kind]) -> str | None:
    other = args[0] if args else ANY
    return None if ordered_alike(operand, other) else f"cannot order {describe(operand)} against {describe(other)}"


def containment(operand: Kind, container: Kind) -> str | None:
    """Why `operand in container` would fail, if it would."""
    if not is_iterable(container):
        return f"'in' needs a string, list or mapping to look in, not {describe(container)}"
    if STRING in members(container) and operand not in (STRING, ANY):
        return f"'in' a string looks for a string, not {describe(operand)}"
    scalar = all(kind in (STRING, NUMBER, BOOLEAN, NONE, ANY) for kind in members(operand))
    if any(isinstance(kind, Namespace) for kind in members(container)) and not scalar:
        return f"'in' a mapping looks for a key, not {describe(operand)}"
    return None


def _within(operand: Kind, args: list[Kind]) -> str | None:
    return containment(operand, args[0] if args else ANY)


def _parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    """A Jinja filter's or test's parameters after the value (and after the environment it may be passed)."""
    params = list(inspect.signature(function).parameters.values())
    if params and params[0].name in ("eval_ctx", "environment", "context"):
        params = params[1:]
    return params[1:]


def _table(jinja: Mapping[str, Callable[..., Any]], specs: dict[str, tuple[Any, ...]]) -> dict[str, Signature]:
    """Signatures from (accepts, wants, argument kinds, gives[, extra]), named after Jinja's parameters."""
    table = {}
    for name, (accepts, wants, kinds, *rest) in specs.items():
        params = _parameters(jinja[name])
        named = tuple((None if p.kind is p.POSITIONAL_ONLY else p.name, kind)
                      for p, kind in zip(params, kinds, strict=False))
        required = sum(1 for p in params if p.default is p.empty)
        table[name] = Signature(accepts, wants, named, *rest, required=required)  # type: ignore[misc]
    return table


_ANY, _ITERABLE = (_anything, "any value"), (is_iterable, "a string, list or mapping")
_DEFAULT = (*_ANY, (ANY, BOOLEAN), _same)
FILTERS = _table(jinja2.filters.FILTERS, {
    **{name: (*_ANY, (), STRING) for name in ("upper", "lower", "title", "capitalize", "string", "escape", "e",
                                               "tojson")},
    "trim": (*_ANY, (STRING,), STRING),
    "replace": (*_ANY, (ANY, ANY, NUMBER), STRING),
    "default": _DEFAULT,
    "d": _DEFAULT,
    "int": (*_ANY, (NUMBER, NUMBER), NUMBER),
    "float": (*_ANY, (NUMBER,), NUMBER),
    "abs": (_number, "a number", (), NUMBER),
    "round": (_number, "a number", (NUMBER,), NUMBER),
    "length": (*_ITERABLE, (), NUMBER),
    "count": (*_ITERABLE, (), NUMBER),
    "wordcount": (*_ANY, (), NUMBER),
    "join": (*_ITERABLE, (STRING,), STRING),
    "list": (*_ITERABLE, (), _listed),
    "sort": (_sortable, "strings or numbers to sort", (BOOLEAN, BOOLEAN), _listed),
    "dictsort": (_mapping, "a mapping", (), _pairs),
    "urlencode": (_not_list, "a string, number or mapping", (), STRING),
})

_KIND_TESTS = ("defined", "undefined", "none", "boolean", "false", "true", "integer", "float", "number", "string",
               "mapping", "iterable", "sequence", "lower", "upper")
TESTS = _table(jinja2.tests.TESTS, {  # type: ignore[arg-type]  # typeshed types these as `function`
    **{name: (*_ANY, (), BOOLEAN) for name in _KIND_TESTS},
    "odd": (_number, "a number", (), BOOLEAN),
    "even": (_number, "a number", (), BOOLEAN),
    **{name: (*_ANY, (ANY,), BOOLEAN) for name in ("eq", "==", "equalto", "ne", "!=", "sameas")},
    **{name: (*_ANY, (ANY,), BOOLEAN, _ordered)
       for name in ("lt", "<", "lessthan", "le", "<=", "gt", ">", "greaterthan", "ge", ">=")},
    "in": (*_ANY, (ANY,), BOOLEAN, _within),
})

# Why a filter Jinja has is not in FILTERS, where that is worth saying.
UNAVAILABLE = {
    "attr": "it reads Python attributes by name; use endpoints.db or endpoints['db']",
    "map": "it reads attributes by name", "select": "it calls tests by name", "reject": "it calls tests by name",
    "selectattr": "it reads attributes by name", "rejectattr": "it reads attributes by name",
    "groupby": "it reads attributes by name", "random": "a template renders the same every time",
    "format": "join strings with ~ instead", "items": "use dictsort, which gives a list",
    **dict.fromkeys(("unique", "reverse"), "it gives a one-pass iterator; use sort"),
    **dict.fromkeys(("first", "last", "min", "max"), "it fails on an empty value"),
}
