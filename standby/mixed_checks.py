"""Checks of mixed sites: each machine names a provider its site has, an app is held by one provider at a site,
and what a machine's two providers cannot do together (copy a local folder into AWS, replicate EC2 into DRS from
a vCenter) is refused with the fix.
"""

from collections.abc import Iterator

from standby.document import DocPath, Document
from standby.issues import Issue
from standby.partial import Partial
from standby.runbook import Machine, MachineAt, MixedSite, Site
from standby.suggest import Vocabulary

# What of `at.<site>` only a vSphere provider reads.
_VSPHERE_FIELDS = ("vm", "ip", "guest_os", "windows")


def _mixed(partial: Partial) -> dict[str, MixedSite]:
    return {name: site for name, site in partial.sites.valid() if isinstance(site, MixedSite)} if partial.sites else {}


def _members(site: MixedSite) -> str:
    return ", ".join(f"{name} ({member.provider})" for name, member in site.providers.items())


def detect_machine_holders(partial: Partial, document: Document) -> list[Issue]:
    """Every machine names, at each mixed site, a provider the site has, and only vSphere places get a VM there."""
    if partial.machines is None or partial.sites is None:
        return []
    mixed, issues = _mixed(partial), []
    for name, machine in partial.machines.valid():
        for site_name, site in mixed.items():
            issues += _holder_issues(document, name, machine, site_name, site)
        for site_name, at in machine.at.items():
            declared = partial.sites.get(site_name)
            if at.provider is not None and declared is not None and not isinstance(declared, MixedSite):
                message = (f"site '{site_name}' has one provider ({declared.provider}); 'provider' picks one of a "
                           "mixed site's providers: remove it")
                issues.append(document.issue(("machines", name, "at", site_name, "provider"), message))
    return issues


def _holder_issues(document: Document, name: str, machine: Machine, site_name: str, site: MixedSite) -> list[Issue]:
    at = machine.at.get(site_name)
    if at is None or at.provider is None:
        where: DocPath = ("machines", name, "at", site_name) if at is not None else ("machines", name)
        message = (f"machine '{name}' is at mixed site '{site_name}', which holds {_members(site)}; say which holds "
                   f"it: at: {{{site_name}: {{provider: {next(iter(site.providers))}}}}}")
        return [document.issue(where, message, key=True)]
    path = ("machines", name, "at", site_name, "provider")
    if at.provider not in site.providers:
        known = Vocabulary(site.providers)
        hint = known.hint(at.provider) or f"; it has {_members(site)}"
        return [document.issue(path, f"site '{site_name}' has no provider '{at.provider}'{hint}")]
    kind = site.providers[at.provider].provider
    return [document.issue(("machines", name, "at", site_name, field),
                           f"'{field}' is read by a vSphere provider; '{at.provider}' of site '{site_name}' is {kind}: "
                           "remove it, or hold the machine by a vSphere provider of the site")
            for field in _VSPHERE_FIELDS if kind != "vsphere" and getattr(at, field) is not None]


def holder_kind(site_name: str, site: Site | None, machine: Machine | None) -> str | None:
    """The kind of provider holding a machine at a site; None where it cannot be told (an invalid entry)."""
    if site is None or not isinstance(site, MixedSite):
        return site.provider if site is not None else None
    at: MachineAt | None = machine.at.get(site_name) if machine is not None else None
    member = site.providers.get(at.provider) if at is not None and at.provider else None
    return member.provider if member is not None else None


def _holders(partial: Partial, machine: str) -> Iterator[tuple[str, str | None]]:
    """(site, provider name) of the machine at each mixed site; None where it names none the site has."""
    entry = partial.machines.get(machine) if partial.machines is not None else None
    for site_name, site in _mixed(partial).items():
        at = entry.at.get(site_name) if entry is not None else None
        yield site_name, at.provider if at is not None and at.provider in site.providers else None


def detect_app_holders(partial: Partial, document: Document) -> list[Issue]:
    """All machines of an app are held by one provider at a site: one provider starts, stops and moves the app."""
    if partial.apps is None or not _mixed(partial):
        return []
    issues = []
    for name, app in partial.apps.valid():
        first: dict[str, tuple[str, str]] = {}
        for index, machine in enumerate(app.machines):
            for site_name, held in _holders(partial, machine):
                if held is None:
                    continue
                other, by = first.setdefault(site_name, (machine, held))
                if by != held:
                    message = (f"machine '{machine}' is held by '{held}' at site '{site_name}', machine '{other}' of "
                               f"the same app by '{by}'; one provider holds an app at a site (it starts, stops and "
                               "moves the app as one): give them the same provider, or make two apps")
                    issues.append(document.issue(("apps", name, "machines", index), message))
    return issues


def detect_provider_pairs(partial: Partial, document: Document) -> list[Issue]:
    """A machine's providers at the protected source and target can replicate it (mixed sites only)."""
    protection, sites, machines = partial.protection, partial.sites, partial.machines
    if protection is None or sites is None or machines is None or not _mixed(partial):
        return []
    ends = (protection.source, protection.target)
    if not any(isinstance(sites.get(end), MixedSite) for end in ends):
        return []
    issues = []
    for name, machine in machines.valid():
        source, target = (holder_kind(end, sites.get(end), machine) for end in ends)
        if source is None or target is None:
            continue
        if (source == "local") != (target == "local"):
            message = (f"machine '{name}' is held by {source} at '{ends[0]}' and by {target} at '{ends[1]}': only a "
                       "local provider replicates a local machine's folder, and only into a local provider; hold it "
                       "by local providers at both sites, or by none")
            issues.append(document.issue(("machines", name), message, key=True))
        elif target == "aws" and source != "aws" and machine.source == "ec2":
            message = (f"machine '{name}' comes to AWS from {source} at '{ends[0]}', outside AWS: Elastic Disaster "
                       "Recovery replicates it as a server outside AWS and fails it back through the Failback "
                       "Client; set source: onprem")
            issues.append(document.issue(("machines", name), message, key=True))
    return issues


def needs_start(partial: Partial, app_machines: list[str]) -> bool:
    """Whether a local provider holds the app's machines somewhere, so that it must say how to start them."""
    sites = partial.sites
    if sites is None:
        return False
    if any(site.provider == "local" for _, site in sites.valid()):
        return True
    return any(holder_kind(name, site, partial.machines.get(machine) if partial.machines else None) == "local"
               for name, site in sites.valid() for machine in app_machines)


DETECTORS = [detect_machine_holders, detect_app_holders, detect_provider_pairs]
