"""Warnings: what a runbook may say, but probably does not mean. `standby validate --strict` makes them fail."""

from standby.document import Document
from standby.issues import WARNING, Issue
from standby.partial import Partial
from standby.runbook import LocalSite


def detect_shared_endpoint_ports(partial: Partial, document: Document) -> list[Issue]:
    """Two apps on one public endpoint port: only one can answer there."""
    owner: dict[int, str] = {}
    issues = []
    for name, app in partial.apps.valid() if partial.apps is not None else ():
        port = app.endpoint.port if app.endpoint else None
        if port is None:
            continue
        if port in owner:
            message = (f"app '{owner[port]}' has public port {port} too; only one app can answer there, "
                       "give each its own")
            issues.append(document.issue(("apps", name, "endpoint", "port"), message, severity=WARNING))
        owner.setdefault(port, name)
    return issues


def detect_overlapping_sites(partial: Partial, document: Document) -> list[Issue]:
    """Two local sites whose machine ports overlap (the same port_base, or ranges that meet)."""
    if partial.sites is None or partial.machines is None:
        return []
    count = max(len(partial.machines), 1)
    sites = [(name, site) for name, site in partial.sites.valid() if isinstance(site, LocalSite)]
    local = sorted((site.port_base, place, name) for place, (name, site) in enumerate(sites))
    issues, reach, widest = [], -1, (0, "")
    for base, _, name in local:
        if base <= reach:
            last = min(reach, base + count - 1)
            message = (f"sites '{widest[1]}' and '{name}' both give machines ports {base}-{last} (port_base "
                       f"{widest[0]} and {base}, {count} machines); give each site its own range")
            issues.append(document.issue(("sites", name, "port_base"), message, severity=WARNING))
        if base + count - 1 > reach:
            reach, widest = base + count - 1, (base, name)
    return issues


def detect_unused_machines(partial: Partial, document: Document) -> list[Issue]:
    """A machine no app lists is protected but never recovered."""
    if partial.apps is None or partial.machines is None or not partial.apps.whole:
        return []
    used = {machine for _, app in partial.apps.valid() for machine in app.machines}
    if not used <= set(partial.machines):
        return []  # a misspelt machine is an error that already names the unused one
    message = "machine '{}' belongs to no app, so no operation recovers it; add it to an app's machines or remove it"
    return [document.issue(("machines", name), message.format(name), key=True, severity=WARNING)
            for name in partial.machines if name not in used]


def detect_repeated_dependencies(partial: Partial, document: Document) -> list[Issue]:
    """An app listed twice in one depends_on."""
    issues = []
    for name, app in partial.apps.valid() if partial.apps is not None else ():
        first: dict[str, int] = {}
        for index, dependency in enumerate(app.depends_on):
            if dependency in first:
                message = f"'{dependency}' is already listed (depends_on[{first[dependency]}]); remove this one"
                issues.append(document.issue(("apps", name, "depends_on", index), message, severity=WARNING))
            first.setdefault(dependency, index)
    return issues


DETECTORS = [detect_shared_endpoint_ports, detect_overlapping_sites, detect_unused_machines,
             detect_repeated_dependencies]
