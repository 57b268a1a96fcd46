"""Processes that serve a machine at a site although Standby did not start them there: found, reported, stopped.

An old primary restarted by hand (or back by itself) after a failover holds the machine's port and data folder.
Status names it, at the site reporting and at the source of a paused direction (a site that serves nothing now),
and a direction set to run into a site stops it there first: else the next launch there would find it.
"""

from __future__ import annotations

from activities.sites.local import processes, procfs, serving, usage
from standby.contracts.local_layout import Layout
from standby.contracts.sites import MachineRef, MachineReplication, SiteRef
from standby.runbook import LocalSite

# A stranger gets what the stop of a machine gets at most before SIGKILL.
STOP_SECONDS = processes.KILL_SECONDS


def _port(site: SiteRef, machine: MachineRef) -> int:
    assert isinstance(site.config, LocalSite)
    return site.config.port_base + machine.index


def _own(layout: Layout, site: SiteRef, machine: MachineRef) -> int | None:
    """The pid the machine's live pid file names at the site (None: none, or unreadable)."""
    try:
        return processes.running_pid(layout.pid(site.name, machine.name))
    except processes.ProcessError:
        return None


def _servers(layout: Layout, site: SiteRef, machine: MachineRef) -> tuple[list[usage.User], int | None]:
    """Every process serving the machine at the site, and the pid its live pid file names."""
    users = serving.servers(layout.data(site.name, machine.name), _port(site, machine))
    return users, _own(layout, site, machine)


def with_servers(states: list[MachineReplication], layout: Layout, sites: list[tuple[SiteRef, bool]],
                 machines: list[MachineRef]) -> list[MachineReplication]:
    """The machines' states with the processes serving them at each of the sites, from one pass over the processes.

    A site comes with `reporting`: it is the one reporting; else it is the source of a paused direction, which
    serves nothing. A process Standby did not start is named in the machine's detail.
    """
    places = [(site, reporting, at, machine) for site, reporting in sites for at, machine in enumerate(machines)]
    found = serving.servers_of([(layout.data(site.name, m.name), _port(site, m)) for site, _, _, m in places])
    parents, result = procfs.parents(), list(states)
    for (site, reporting, at, machine), users in zip(places, found, strict=True):
        own = _own(layout, site, machine)
        family = usage.family(own, parents) if own is not None else set()
        result[at] = _with(result[at], users, family, site.name, machine.name, reporting)
    return result


def _with(state: MachineReplication, users: list[usage.User], family: set[int], site: str, machine: str,
          reporting: bool) -> MachineReplication:
    """The state with the processes serving the machine at one site."""
    found = serving.report(users, family)
    if not reporting:
        found = [p.model_copy(update={"site": site}) for p in found]
    outside = [f"pid {p.pid} ({p.command})" for p in found if not p.started_by_standby]
    if not outside:
        return state.model_copy(update={"serving": [*state.serving, *found]})
    then = (f"stopping the app at {site} stops it" if reporting else
            f"replication from {site} is paused, so nothing should serve there; a direction set to run into "
            f"{site} (failback, return) stops it first")
    warning = f"{', '.join(outside)} serves {machine} at {site} but Standby did not start it; {then}"
    detail = f"{warning}; {state.detail}" if state.detail else warning
    return state.model_copy(update={"serving": [*state.serving, *found], "detail": detail})


def stop_strays(layout: Layout, site: SiteRef, machine: MachineRef) -> list[str]:
    """Stop every process serving the machine at the site that its live pid file does not name; what was stopped.

    Processes Standby started stay: a launch or a stop decides about those. Refused (serving.Refused) for a process
    this worker may not inspect or signal: a launch would land on it.
    """
    users, own = _servers(layout, site, machine)
    family = usage.family(own) if own is not None else set()
    done = []
    for user in users:
        if user.pid is not None and user.pid in family:
            continue
        if user.pid is None:
            raise serving.Refused(f"{user} serves {machine.name} at {site.name} and cannot be inspected; stop it")
        try:
            outcome = processes.stop_pid(user.pid, STOP_SECONDS)
        except processes.ProcessError as error:
            raise serving.Refused(f"{user} serves {machine.name} at {site.name}, not started by Standby, and "
                                  f"cannot be stopped: {error}") from error
        done.append(f"{outcome} {user} serving {machine.name} at {site.name}, which Standby did not start")
    return done
