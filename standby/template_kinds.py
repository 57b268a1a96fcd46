"""Kinds of the values a runbook template handles, as far as a check before the step runs can tell them."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

STRING = "a string"
NUMBER = "a number"
BOOLEAN = "true/false"
NONE = "none"
ANY = "any value"  # what the checker cannot tell; nothing is refused for it
SCALARS = frozenset({STRING, NUMBER, BOOLEAN, NONE})


@dataclass(frozen=True)
class Namespace:
    """A mapping whose keys are known before the step runs; `what` says which keys, for messages."""

    fields: Mapping[str, "Kind"]
    what: str = "this mapping"

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.fields)), self.what))


@dataclass(frozen=True)
class ListOf:
    """A list (or tuple) whose items are all of one kind."""

    item: "Kind"


@dataclass(frozen=True)
class TupleOf:
    """A tuple of known length, such as the (key, value) pairs of `items`."""

    items: tuple["Kind", ...]


@dataclass(frozen=True)
class OneOf:
    """A value of one of several kinds (`port or app`): an operation must suit each of them."""

    kinds: frozenset["Kind"]


Kind = str | Namespace | ListOf | TupleOf | OneOf


def members(kind: Kind) -> list[Kind]:
    """The kinds a value may have."""
    return list(kind.kinds) if isinstance(kind, OneOf) else [kind]


def common(kinds: Iterable[Kind]) -> Kind:
    """The one kind all of `kinds` share, else the kinds it may be (ANY if one of them is unknown)."""
    found = {member for kind in kinds for member in members(kind)}
    if ANY in found or not found:
        return ANY
    return found.pop() if len(found) == 1 else OneOf(frozenset(found))


def describe(kind: Kind) -> str:
    """`a string`, `a mapping`, `a list`, `a string or a number` for messages."""
    if isinstance(kind, OneOf):
        return " or ".join(sorted(describe(member) for member in kind.kinds))
    if isinstance(kind, Namespace):
        return "a mapping"
    if isinstance(kind, (ListOf, TupleOf)):
        return "a list"
    return kind


def is_iterable(kind: Kind) -> bool:
    """Whether a for loop or a filter such as `join` can go through it, whichever kind it has."""
    return all(m in (STRING, ANY) or isinstance(m, (Namespace, ListOf, TupleOf)) for m in members(kind))


def item_of(kind: Kind) -> Kind:
    """The kind a for loop over `kind` gives each turn."""
    if isinstance(kind, OneOf):
        return common(item_of(member) for member in kind.kinds)
    if isinstance(kind, ListOf):
        return kind.item
    if isinstance(kind, TupleOf):
        return common(kind.items)
    return STRING if kind == STRING or isinstance(kind, Namespace) else ANY


def ordered_alike(left: Kind, right: Kind) -> bool:
    """Whether `<` between the two works: numbers with numbers, strings with strings."""
    if ANY in (left, right):
        return True
    sides = {*members(left), *members(right)}
    return len(sides) == 1 and sides <= {STRING, NUMBER}
