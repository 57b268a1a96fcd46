"""Per-machine dispatch: a site step cut into the parts each provider takes, and their answers joined again.

At a site with one provider a step is one part, as it always was. At a mixed site (standby.runbook.MixedSite) the
machines of a step go to the providers holding them there; each part's sites (its own, and the other site of a
replication or launch) are resolved for its machines, so a provider only ever sees sites of its own kind.
"""

from collections.abc import Iterator
from typing import TypeVar

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


def _resolved(inp: object, machine: MachineRef) -> dict[str, object]:
    """The input's sites (and an identity's peers), as the providers holding `machine` see them."""
    try:
        found: dict[str, object] = {field: holder_ref(ref, machine.name, machine.config) for field in _SITES
                                    if isinstance(ref := getattr(inp, field, None), SiteRef)}
        if isinstance(inp, IdentityInput):
            found["peers"] = [holder_ref(peer, machine.name, machine.config) for peer in inp.peers]
    except NoHolder as error:
        raise ApplicationError(str(error), type="NoHolder", non_retryable=True) from None
    return found


def by_machines(inp: ManyMachines) -> list[ManyMachines]:
    """One part per combination of providers its machines are held by, machines in their order."""
    parts: dict[tuple[str, ...], tuple[dict[str, object], list[MachineRef]]] = {}
    for machine in inp.machines:
        refs = _resolved(inp, machine)
        key = tuple(r.holder for r in refs.values() if isinstance(r, SiteRef))
        parts.setdefault(key, (refs, []))[1].append(machine)
    if len(parts) <= 1:  # the whole step at one provider, as at a site with one (also a step without machines)
        return [inp.model_copy(update=next(iter(parts.values()))[0]) if parts else inp]
    return [_part(inp, refs, machines) for refs, machines in parts.values()]


def _part(inp: ManyMachines, refs: dict[str, object], machines: list[MachineRef]) -> ManyMachines:
    update: dict[str, object] = {**refs, "machines": machines}
    if isinstance(inp, ReplicationInput):
        names = {m.name for m in machines}
        update["apps"] = [a for a in inp.apps if a.machines[0].name in names]
    return inp.model_copy(update=update)


def for_machine(inp: OneMachine) -> OneMachine:
    """The input with its sites resolved for its one machine."""
    return inp.model_copy(update=_resolved(inp, inp.machine))


def for_app(inp: OneApp) -> OneApp:
    """The input with its sites resolved for the app: one provider holds all its machines at a site (validation
    makes sure)."""
    return inp.model_copy(update=_resolved(inp, inp.app.machines[0]))


def every_provider(inp: TerminateInput) -> Iterator[TerminateInput]:
    """A removal at each provider of the site: targets under a key may be at any of them."""
    config = inp.site.config
    if not isinstance(config, MixedSite):
        yield inp
        return
    for named, member in config.providers.items():
        site = SiteRef(runbook=inp.site.runbook, name=inp.site.name, config=member, holder=named)
        yield inp.model_copy(update={"site": site})
