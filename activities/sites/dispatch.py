"""Per-machine dispatch: a site step cut into the parts each provider takes, and their answers joined again.

At a site with one provider a step is one part, as it always was. At a mixed site (standby.runbook.MixedSite) the
machines of a step go to the providers holding them there; each part's sites (its own, and the other site of a
replication or launch) are resolved for its machines, so a provider only ever sees sites of its own kind.
"""

import functools
from collections.abc import Iterator
from typing import TypeVar

from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from standby.contracts.sites import (
    AppInput,
    DirectionInput,
    IdentityInput,
    LaunchInput,
    MachineRef,
    PointsInput,
    ReplicationInput,
    SiteRef,
    TerminateInput,
)
from standby.holders import NoHolder, holder_ref
from standby.runbook import MixedSite

ManyMachines = TypeVar("ManyMachines", ReplicationInput, DirectionInput)
OneMachine = TypeVar("OneMachine", LaunchInput, PointsInput)
OneApp = TypeVar("OneApp", AppInput, IdentityInput)
_SITES = ("site", "source", "target")


@functools.cache
def _site_fields(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(field for field in _SITES if field in model.model_fields)


def _mixed(inp: BaseModel) -> list[str]:
    """The input's site fields that name a mixed site: at a site with one provider, none."""
    return [field for field in _site_fields(type(inp))
            if isinstance(ref := getattr(inp, field), SiteRef) and isinstance(ref.config, MixedSite)]


def _resolved(inp: BaseModel, machine: MachineRef) -> dict[str, object]:
    """The input's sites at a mixed site (and an identity's peers), as the providers holding `machine` see them.

    Empty when none is mixed: a provider alone at its site sees every site as it is, and nothing is copied.
    """
    try:
        found: dict[str, object] = {field: holder_ref(getattr(inp, field), machine.name, machine.config)
                                    for field in _mixed(inp)}
        if isinstance(inp, IdentityInput) and any(isinstance(peer.config, MixedSite) for peer in inp.peers):
            found["peers"] = [holder_ref(peer, machine.name, machine.config) for peer in inp.peers]
    except NoHolder as error:
        raise ApplicationError(str(error), type="NoHolder", non_retryable=True) from None
    return found


def by_machines(inp: ManyMachines) -> list[ManyMachines]:
    """One part per combination of providers its machines are held by, machines in their order."""
    if not _mixed(inp):  # the whole step at the one provider of its sites
        return [inp]
    parts: dict[tuple[str, ...], tuple[dict[str, object], list[MachineRef]]] = {}
    for machine in inp.machines:
        refs = _resolved(inp, machine)
        key = tuple(r.holder for r in refs.values() if isinstance(r, SiteRef))
        parts.setdefault(key, (refs, []))[1].append(machine)
    if len(parts) <= 1:  # the whole step at one provider (also a step without machines)
        return [inp.model_copy(update=next(iter(parts.values()))[0]) if parts else inp]
    return [_part(inp, refs, machines) for refs, machines in parts.values()]


def _part(inp: ManyMachines, refs: dict[str, object], machines: list[MachineRef]) -> ManyMachines:
    update: dict[str, object] = {**refs, "machines": machines}
    if isinstance(inp, ReplicationInput):
        names = {m.name for m in machines}
        update["apps"] = [a for a in inp.apps if a.machines[0].name in names]
    return inp.model_copy(update=update)


def for_machine(inp: OneMachine) -> OneMachine:
    """The input with its sites resolved for its one machine (itself when none is mixed)."""
    refs = _resolved(inp, inp.machine)
    return inp.model_copy(update=refs) if refs else inp


def for_app(inp: OneApp) -> OneApp:
    """The input with its sites resolved for the app: one provider holds all its machines at a site (validation
    makes sure); itself when none is mixed."""
    refs = _resolved(inp, inp.app.machines[0])
    return inp.model_copy(update=refs) if refs else inp


def every_provider(inp: TerminateInput) -> Iterator[TerminateInput]:
    """A removal at each provider of the site: targets under a key may be at any of them."""
    config = inp.site.config
    if not isinstance(config, MixedSite):
        yield inp
        return
    for named, member in config.providers.items():
        site = SiteRef(runbook=inp.site.runbook, name=inp.site.name, config=member, holder=named)
        yield inp.model_copy(update={"site": site})
