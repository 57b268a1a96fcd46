"""Checks across sections of a runbook: references, groups, cycles, templates.

Each `detect_*` function returns every issue it finds; `detect_all` runs them
in order. They run only on a runbook whose schema already validated.
"""

from collections.abc import Callable, Iterable

from standby import continuity_checks, templates
from standby.issues import Issue
from standby.runbook import (
    ActionHook,
    CommandHealth,
    CommandHook,
    DnsIdentity,
    LocalSite,
    PromptHook,
    Runbook,
    VsphereSite,
    action_kind,
)
from standby.source import Document
from standby.suggest import did_you_mean

Detector = Callable[[Runbook, Document], list[Issue]]


def detect_all(runbook: Runbook, document: Document) -> list[Issue]:
    """Every cross-section issue of a runbook."""
    detectors: list[Detector] = [
        detect_site_references,
        detect_machine_references,
        detect_group_membership,
        detect_dependency_problems,
        detect_dependency_cycles,
        detect_hook_references,
        detect_action_sites,
        *continuity_checks.DETECTORS,
        detect_template_problems,
        detect_local_requirements,
        detect_dns_zones,
    ]
    return [issue for detector in detectors for issue in detector(runbook, document)]


def _unknown(document: Document, path: tuple, what: str, name: str, known: Iterable[str]) -> Issue:
    known = list(known)
    hint = did_you_mean(name, known) or (f"; known: {', '.join(sorted(known))}" if known else "")
    return document.issue(path, f"unknown {what} '{name}'{hint}")


def detect_site_references(runbook: Runbook, document: Document) -> list[Issue]:
    """protection.source and .target name declared, distinct sites."""
    issues = []
    for role in ("source", "target"):
        name = getattr(runbook.protection, role)
        if name not in runbook.sites:
            issues.append(_unknown(document, ("protection", role), "site", name, runbook.sites))
    if runbook.protection.source == runbook.protection.target:
        issues.append(document.issue(("protection", "target"), "target is the same site as source; name another site"))
    return issues


def detect_machine_references(runbook: Runbook, document: Document) -> list[Issue]:
    """Each app's machines exist and belong to that app alone."""
    issues, owner = [], {}
    for app_name, app in runbook.apps.items():
        for index, machine in enumerate(app.machines):
            path = ("apps", app_name, "machines", index)
            if machine not in runbook.machines:
                issues.append(_unknown(document, path, "machine", machine, runbook.machines))
            elif machine in owner:
                issues.append(document.issue(path, f"machine '{machine}' already belongs to app '{owner[machine]}'"))
            else:
                owner[machine] = app_name
    return issues


def detect_group_membership(runbook: Runbook, document: Document) -> list[Issue]:
    """Group names are unique; every app is in exactly one group."""
    issues, seen_groups, member_of = [], {}, {}
    for index, group in enumerate(runbook.groups):
        if group.name in seen_groups:
            message = f"duplicate group name '{group.name}' (also groups[{seen_groups[group.name]}]); rename one"
            issues.append(document.issue(("groups", index, "name"), message))
        seen_groups.setdefault(group.name, index)
        for position, app in enumerate(group.apps):
            path = ("groups", index, "apps", position)
            if app not in runbook.apps:
                issues.append(_unknown(document, path, "app", app, runbook.apps))
            elif app in member_of:
                message = f"app '{app}' is already in group '{member_of[app]}'; an app recovers in one group only"
                issues.append(document.issue(path, message))
            else:
                member_of[app] = group.name
    for app in runbook.apps:
        if app not in member_of:
            message = f"app '{app}' is in no group; add it to a group's apps so it is recovered"
            issues.append(document.issue(("apps", app), message, key=True))
    return issues


def detect_dependency_problems(runbook: Runbook, document: Document) -> list[Issue]:
    """depends_on names known apps in the same or an earlier group."""
    order = {app: rank for rank, group in enumerate(runbook.groups) for app in group.apps}
    names = {app: group.name for group in runbook.groups for app in group.apps}
    issues = []
    for app_name, app in runbook.apps.items():
        for index, dependency in enumerate(app.depends_on):
            path = ("apps", app_name, "depends_on", index)
            if dependency not in runbook.apps:
                issues.append(_unknown(document, path, "app", dependency, runbook.apps))
            elif dependency == app_name:
                issues.append(document.issue(path, f"app '{app_name}' depends on itself; remove it"))
            elif order.get(dependency, -1) > order.get(app_name, len(order)):
                message = (
                    f"'{app_name}' (group '{names[app_name]}') depends on '{dependency}' in the later group "
                    f"'{names[dependency]}'; move '{dependency}' to group '{names[app_name]}' or an earlier one"
                )
                issues.append(document.issue(path, message))
    return issues


def detect_dependency_cycles(runbook: Runbook, document: Document) -> list[Issue]:
    """depends_on forms no cycle; each cycle is named once."""
    graph = {name: [d for d in app.depends_on if d in runbook.apps and d != name] for name, app in runbook.apps.items()}
    issues, reported = [], set()
    for cycle in _cycles(graph):
        key = frozenset(cycle)
        if key in reported:
            continue
        reported.add(key)
        start = cycle[0]
        index = runbook.apps[start].depends_on.index(cycle[1])
        message = f"dependency cycle: {' -> '.join([*cycle, start])}; remove one of these depends_on"
        issues.append(document.issue(("apps", start, "depends_on", index), message))
    return issues


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Cycles found by depth-first search, each starting at its first app in runbook order."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):]
                first = min(cycle, key=list(graph).index)
                found.append(cycle[cycle.index(first):] + cycle[: cycle.index(first)])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [])
    return found


def detect_hook_references(runbook: Runbook, document: Document) -> list[Issue]:
    """A hook's `at` names a declared group or app."""
    groups = [g.name for g in runbook.groups]
    issues = []
    for index, hook in enumerate(runbook.hooks):
        if hook.subject is None:
            continue
        if hook.point in ("before_group", "after_group") and hook.subject not in groups:
            issues.append(_unknown(document, ("hooks", index, "at"), "group", hook.subject, groups))
        if hook.point in ("pre_launch", "post_launch") and hook.subject not in runbook.apps:
            issues.append(_unknown(document, ("hooks", index, "at"), "app", hook.subject, runbook.apps))
    return issues


def detect_action_sites(runbook: Runbook, document: Document) -> list[Issue]:
    """A remediation action acts on a vSphere site: the one it names, else the protection target."""
    vsphere = [name for name, site in runbook.sites.items() if isinstance(site, VsphereSite)]
    issues = []
    for index, hook in enumerate(runbook.hooks):
        if not isinstance(hook, ActionHook):
            continue
        kind = action_kind(hook.action)
        path = ("hooks", index, "action", kind)
        named = hook.action.target.site
        if named is not None and named in runbook.sites and named not in vsphere:
            message = f"site '{named}' is a {runbook.sites[named].provider} site; a remediation action needs a vSphere site"
            issues.append(document.issue((*path, "site"), message))
        elif named is not None and named not in vsphere:
            issues.append(_unknown(document, (*path, "site"), "vSphere site", named, vsphere))
        elif named is None and runbook.protection.target not in vsphere:
            message = f"{kind} acts on a vSphere site; name one with 'site:' (vSphere sites: {', '.join(vsphere) or 'none'})"
            issues.append(document.issue(path, message))
    return issues


def detect_template_problems(runbook: Runbook, document: Document) -> list[Issue]:
    """Every Jinja template parses in the sandbox and uses only names its step provides."""
    issues = []
    for path, text, names in _templates(runbook):
        issues.extend(document.issue(path, problem) for problem in templates.problems(text, names))
    return issues


def _templates(runbook: Runbook) -> Iterable[tuple[tuple, str, frozenset[str]]]:
    for index, hook in enumerate(runbook.hooks):
        if isinstance(hook, CommandHook):
            for position, arg in enumerate(hook.run):
                yield ("hooks", index, "run", position), arg, templates.HOOK_NAMES
            for key, value in hook.env.items():
                yield ("hooks", index, "env", key), value, templates.HOOK_NAMES
        if isinstance(hook, PromptHook):
            yield ("hooks", index, "prompt"), hook.prompt, templates.HOOK_NAMES
    for name, app in runbook.apps.items():
        for field in ("start", "stop"):
            for position, arg in enumerate(getattr(app, field) or []):
                yield ("apps", name, field, position), arg, templates.PROCESS_NAMES
        for check_index, check in enumerate(app.health):
            for position, arg in enumerate(check.command.run if isinstance(check, CommandHealth) else []):
                yield ("apps", name, "health", check_index, "command", "run", position), arg, templates.PROCESS_NAMES


def detect_local_requirements(runbook: Runbook, document: Document) -> list[Issue]:
    """Apps protected by the local provider say how to start their machines."""
    if not any(isinstance(site, LocalSite) for site in runbook.sites.values()):
        return []
    return [
        document.issue(("apps", name), f"app '{name}' has no 'start' argv; the local provider starts each machine with it", key=True)
        for name, app in runbook.apps.items()
        if app.start is None
    ]


def detect_dns_zones(runbook: Runbook, document: Document) -> list[Issue]:
    """Each endpoint name is in the zone of every site that moves it by RFC 2136."""
    zones = {name: site.dns for name, site in runbook.sites.items()
             if isinstance(site, (LocalSite, VsphereSite)) and site.dns is not None}
    return [
        document.issue(("apps", name, "endpoint", "name"),
                       f"'{app.endpoint.name}' is not in zone {identity.zone} of site '{site}'; name it under that "
                       f"zone, or set sites.{site}.dns.zone to the zone it is in")
        for name, app in runbook.apps.items() if app.endpoint is not None
        for site, identity in zones.items() if not _in_zone(app.endpoint.name, identity)
    ]


def _in_zone(name: str, dns: DnsIdentity) -> bool:
    record, zone = name.rstrip(".").lower(), dns.zone.rstrip(".").lower()
    return record == zone or record.endswith("." + zone)
