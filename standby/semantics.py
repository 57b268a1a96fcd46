"""Checks across sections of a runbook: references between sites, machines, apps, groups, hooks and pairs.

Each `detect_*` function returns every issue it finds; `detect_all` runs them with the dependency,
run-time and advice checks. They read a Partial: an entry that failed its schema still counts as
declared but is not looked into, so one run reports schema and cross-reference issues together.
"""

from collections.abc import Callable

from standby import advice, continuity_checks, dependencies, mixed_checks, runtime_checks, warm_checks
from standby.document import Document
from standby.issues import Issue
from standby.partial import Partial
from standby.runbook import ActionHook, CommandHook, DnsIdentity, LocalSite, MixedSite, VsphereSite, action_kind
from standby.suggest import Vocabulary

Detector = Callable[[Partial, Document], list[Issue]]


def detect_all(partial: Partial, document: Document) -> list[Issue]:
    """Every cross-section issue of a runbook, errors and warnings."""
    detectors: list[Detector] = [
        detect_site_references,
        detect_machine_references,
        detect_machine_sites,
        detect_group_membership,
        dependencies.detect_dependency_problems,
        dependencies.detect_dependency_cycles,
        detect_hook_references,
        detect_action_sites,
        *continuity_checks.DETECTORS,
        detect_dns_zones,
        *mixed_checks.DETECTORS,
        *runtime_checks.DETECTORS,
        *warm_checks.DETECTORS,
        *advice.DETECTORS,
    ]
    return [issue for detector in detectors for issue in detector(partial, document)]


def detect_site_references(partial: Partial, document: Document) -> list[Issue]:
    """protection.source and .target name declared, distinct sites."""
    protection, sites = partial.protection, partial.sites
    if protection is None or sites is None:
        return []
    issues, known = [], Vocabulary(sites)
    for role in ("source", "target"):
        name = getattr(protection, role)
        if name not in sites:
            issues.append(document.unknown(("protection", role), "site", name, known))
    if protection.source == protection.target:
        issues.append(document.issue(("protection", "target"), "target is the same site as source; name another site"))
    return issues


def detect_machine_references(partial: Partial, document: Document) -> list[Issue]:
    """Each app's machines exist and belong to that app alone."""
    if partial.apps is None or partial.machines is None:
        return []
    issues, owner, known = [], dict[str, str](), Vocabulary(partial.machines)
    for app_name, app in partial.apps.valid():
        for index, machine in enumerate(app.machines):
            path = ("apps", app_name, "machines", index)
            if machine not in partial.machines:
                issues.append(document.unknown(path, "machine", machine, known))
            elif machine in owner:
                issues.append(document.issue(path, f"machine '{machine}' already belongs to app '{owner[machine]}'"))
            else:
                owner[machine] = app_name
    return issues


def detect_machine_sites(partial: Partial, document: Document) -> list[Issue]:
    """Each `machines.<m>.at.<site>` names a declared vSphere or mixed site: only they read a machine's place there."""
    if partial.machines is None or partial.sites is None:
        return []
    sites, issues = partial.sites, []
    kinds = "vSphere or mixed" if any(isinstance(site, MixedSite) for _, site in sites.valid()) else "vSphere"
    placing = Vocabulary(name for name, site in sites.valid() if isinstance(site, (VsphereSite, MixedSite)))
    for name, machine in partial.machines.valid():
        for site in machine.at:
            path, declared = ("machines", name, "at", site), sites.get(site)
            if declared is not None and site not in placing:
                message = (f"site '{site}' is a {declared.provider} site; 'at' places a machine at a {kinds} site "
                           f"({kinds} sites: {placing.listing() or 'none'})")
                issues.append(document.issue(path, message, key=True))
            elif site not in sites:
                hint = placing.hint(site) or f"; {kinds} sites: {placing.listing() or 'none'}"
                issues.append(document.issue(path, f"unknown {kinds} site '{site}'{hint}", key=True))
    return issues


def detect_group_membership(partial: Partial, document: Document) -> list[Issue]:
    """Group names are unique; every app is in exactly one group."""
    groups, apps = partial.groups, partial.apps
    if groups is None or apps is None:
        return []
    issues, seen_groups, member_of, known = [], dict[str, int](), dict[str, str](), Vocabulary(apps)
    for index, group in groups.valid():
        if group.name in seen_groups:
            message = f"duplicate group name '{group.name}' (also groups[{seen_groups[group.name]}]); rename one"
            issues.append(document.issue(("groups", index, "name"), message))
        seen_groups.setdefault(group.name, index)
        for position, app in enumerate(group.apps):
            path = ("groups", index, "apps", position)
            if app not in apps:
                issues.append(document.unknown(path, "app", app, known))
            elif app in member_of:
                message = f"app '{app}' is already in group '{member_of[app]}'; an app recovers in one group only"
                issues.append(document.issue(path, message))
            else:
                member_of[app] = group.name
    if groups.whole:
        for app in apps:
            if app not in member_of:
                message = f"app '{app}' is in no group; add it to a group's apps so it is recovered"
                issues.append(document.issue(("apps", app), message, key=True))
    return issues


def detect_hook_references(partial: Partial, document: Document) -> list[Issue]:
    """A hook's `at` names a declared group or app; an `on_alert` hook runs a command (nobody answers a prompt)."""
    hooks, groups, apps = partial.hooks, partial.groups, partial.apps
    if hooks is None or groups is None or apps is None:
        return []
    group_names = Vocabulary(group.name for _, group in groups.valid())
    app_names = Vocabulary(apps)
    issues = []
    for index, hook in hooks.valid():
        if hook.point == "on_alert" and not isinstance(hook, CommandHook):
            issues.append(document.issue(("hooks", index, "at"), "an on_alert hook runs a command when nobody is "
                                         "watching; write it with 'run:' (a notifier's argv), not a prompt or action"))
        if hook.subject is None:
            continue
        if hook.point in ("before_group", "after_group") and groups.whole and hook.subject not in group_names:
            issues.append(document.unknown(("hooks", index, "at"), "group", hook.subject, group_names))
        if hook.point in ("pre_launch", "post_launch") and hook.subject not in apps:
            issues.append(document.unknown(("hooks", index, "at"), "app", hook.subject, app_names))
    return issues


def detect_action_sites(partial: Partial, document: Document) -> list[Issue]:
    """A remediation action acts on a vSphere site: the one it names, else the protection target."""
    hooks, sites = partial.hooks, partial.sites
    if hooks is None or sites is None:
        return []
    vsphere = Vocabulary(name for name, site in sites.valid() if isinstance(site, VsphereSite))
    issues = []
    for index, hook in hooks.valid():
        if not isinstance(hook, ActionHook):
            continue
        kind = action_kind(hook.action)
        path = ("hooks", index, "action", kind)
        named, site = hook.action.target.site, sites.get(hook.action.target.site or "")
        if named is not None and site is not None and named not in vsphere:
            message = f"site '{named}' is a {site.provider} site; a remediation action needs a vSphere site"
            issues.append(document.issue((*path, "site"), message))
        elif named is not None and named not in sites:
            issues.append(document.unknown((*path, "site"), "vSphere site", named, vsphere))
        elif named is None and partial.protection is not None and partial.protection.target not in vsphere:
            listed = ", ".join(vsphere.names) or "none"
            message = f"{kind} acts on a vSphere site; name one with 'site:' (vSphere sites: {listed})"
            issues.append(document.issue(path, message))
    return issues


def detect_dns_zones(partial: Partial, document: Document) -> list[Issue]:
    """Each endpoint name is in the zone of every site that moves it by RFC 2136."""
    if partial.sites is None or partial.apps is None:
        return []
    zones = {name: site.dns for name, site in partial.sites.valid()
             if isinstance(site, (LocalSite, VsphereSite)) and site.dns is not None}
    return [
        document.issue(("apps", name, "endpoint", "name"),
                       f"'{app.endpoint.name}' is not in zone {identity.zone} of site '{site}'; name it under that "
                       f"zone, or set sites.{site}.dns.zone to the zone it is in")
        for name, app in partial.apps.valid() if app.endpoint is not None
        for site, identity in zones.items() if not _in_zone(app.endpoint.name, identity)
    ]


def _in_zone(name: str, dns: DnsIdentity) -> bool:
    record, zone = name.rstrip(".").lower(), dns.zone.rstrip(".").lower()
    return record == zone or record.endswith("." + zone)
