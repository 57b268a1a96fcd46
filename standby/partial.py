"""What of a runbook validated, entry by entry, so cross-references are checked even when the schema fails.

A whole runbook that validates gives a Partial with every entry. One that does not gives a Partial whose
failed entries are None: their names still count as declared (no "unknown app" for an app whose `rto` is
wrong), their contents are not checked further. A section that is not even the right kind of container is
None as a whole.
"""

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError

from standby.continuity import Pair
from standby.runbook import App, Group, Hook, Machine, Protection, Runbook, Site
from standby.runbook_base import Name

T = TypeVar("T")


@dataclass(frozen=True)
class Section(Generic[T]):
    """Entries of one section by name (by index for lists); None where an entry failed its schema."""

    entries: dict[Any, T | None]

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[Any]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def valid(self) -> Iterator[tuple[Any, T]]:
        """The entries that validated, in file order."""
        return ((name, entry) for name, entry in self.entries.items() if entry is not None)

    def get(self, name: Any) -> T | None:
        """An entry that validated, or None."""
        return self.entries.get(name)

    @property
    def whole(self) -> bool:
        """Whether every entry validated."""
        return all(entry is not None for entry in self.entries.values())


@dataclass(frozen=True)
class Partial:
    """The sections cross-section checks read; a section is None when it is missing or malformed as a whole."""

    sites: Section[Site] | None
    protection: Protection | None
    machines: Section[Machine] | None
    apps: Section[App] | None
    groups: Section[Group] | None
    hooks: Section[Hook] | None
    pairs: Section[Pair] | None

    @classmethod
    def of(cls, runbook: Runbook) -> "Partial":
        """Every section of a valid runbook."""
        return cls(
            sites=Section(dict(runbook.sites)), protection=runbook.protection, machines=Section(dict(runbook.machines)),
            apps=Section(dict(runbook.apps)), groups=_indexed(runbook.groups), hooks=_indexed(runbook.hooks),
            pairs=Section(dict(runbook.pairs)),
        )

    @classmethod
    def salvage(cls, data: dict[str, Any]) -> "Partial":
        """What validates of a runbook whose schema failed, entry by entry."""
        return cls(
            sites=_mapping(data, "sites", Site), protection=_one(data, "protection", Protection),
            machines=_mapping(data, "machines", Machine), apps=_mapping(data, "apps", App),
            groups=_list(data, "groups", Group), hooks=_list(data, "hooks", Hook), pairs=_mapping(data, "pairs", Pair),
        )


def _indexed(items: list[T]) -> Section[T]:
    return Section(dict(enumerate(items)))


@functools.cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _validate(kind: Any, value: Any) -> Any:
    try:
        return _adapter(kind).validate_python(value)
    except ValidationError:
        return None


def _one(data: dict[str, Any], key: str, kind: Any) -> Any:
    return _validate(kind, data[key]) if key in data else None


def _mapping(data: dict[str, Any], key: str, kind: Any) -> Section[Any] | None:
    if key not in data:
        return Section({}) if not Runbook.model_fields[key].is_required() else None
    value = data[key]
    if not isinstance(value, dict):
        return None
    return Section({name: _validate(kind, entry) if _validate(Name, name) else None for name, entry in value.items()})


def _list(data: dict[str, Any], key: str, kind: Any) -> Section[Any] | None:
    if key not in data:
        return Section({}) if not Runbook.model_fields[key].is_required() else None
    value = data[key]
    if not isinstance(value, list):
        return None
    return Section({position: _validate(kind, entry) for position, entry in enumerate(value)})
