"""Checks of the runbook's pairs across sections: their sites, apps, heartbeat addresses and rules."""

from collections.abc import Iterator

from standby import templates
from standby.continuity import Pair
from standby.document import Document
from standby.issues import Issue
from standby.partial import Partial
from standby.runbook import LocalSite
from standby.suggest import Vocabulary

# Metrics read from the app's own processes and folders: only a local site can.
_LOCAL_METRICS = ("cpu", "memory", "disk")


def _pairs(partial: Partial) -> Iterator[tuple[str, Pair]]:
    return partial.pairs.valid() if partial.pairs is not None else iter(())


def detect_pair_references(partial: Partial, document: Document) -> list[Issue]:
    """Pairs and trios name declared, distinct sites and declared apps, each app in one pair only."""
    sites, apps = partial.sites, partial.apps
    if sites is None or apps is None:
        return []
    issues: list[Issue] = []
    known_sites, known_apps = Vocabulary(sites), Vocabulary(apps)
    owner: dict[str, str] = {}
    for name, pair in _pairs(partial):
        for role in ("primary", "secondary", "tertiary"):
            site = getattr(pair, role)
            if site is not None and site not in sites:
                issues.append(document.unknown(("pairs", name, role), "site", site, known_sites))
        if len(set(pair.nodes())) != len(pair.nodes()):
            issues.append(document.issue(("pairs", name), "a pair's nodes must be different sites", key=True))
        for index, app in enumerate(pair.apps):
            if app not in apps:
                issues.append(document.unknown(("pairs", name, "apps", index), "app", app, known_apps))
            elif app in owner:
                issues.append(document.issue(("pairs", name, "apps", index),
                                             f"app '{app}' is already in pair '{owner[app]}'; an app is in one pair"))
            owner.setdefault(app, name)
    return issues


def detect_pair_roles(partial: Partial, document: Document) -> list[Issue]:
    """A pair's primary and secondary are the sites the runbook protects from and to."""
    protection, sites = partial.protection, partial.sites
    if protection is None or sites is None:
        return []
    protected = {protection.source, protection.target}
    return [
        document.issue(("pairs", name, "secondary"),
                       f"pair '{name}' is {pair.primary} and {pair.secondary}, but protection replicates "
                       f"{protection.source} -> {protection.target}; name those two sites")
        for name, pair in _pairs(partial)
        if {pair.primary, pair.secondary} != protected and all(site in sites for site in pair.nodes())
    ]


def detect_heartbeat_addresses(partial: Partial, document: Document) -> list[Issue]:
    """Heartbeats run when `listen` is given, then for every node of the pair; no address serves two nodes."""
    issues = []
    for name, pair in _pairs(partial):
        path = ("pairs", name, "heartbeat", "listen")
        listen = pair.heartbeat.listen
        if not listen:
            if pair.witnesses or pair.failover == "automatic":
                issues.append(document.issue(("pairs", name), f"pair '{name}' has witnesses or automatic failover "
                                             "but no heartbeat.listen addresses to hear its sites by", key=True))
            continue
        for site in pair.nodes():
            if site not in listen:
                issues.append(document.issue(path, f"site '{site}' of pair '{name}' has no heartbeat address; "
                                             f"add '{site}: 127.0.0.1:PORT' (where its worker hears heartbeats)"))
        for site in listen:
            if site not in pair.nodes():
                issues.append(document.issue((*path, site), f"site '{site}' is not a node of pair '{name}' "
                                             f"({', '.join(pair.nodes())}); remove it or add it to the pair"))
        if len(set(listen.values())) != len(listen):
            issues.append(document.issue(path, "two sites share a heartbeat address; give each its own port"))
        issues += _witness_issues(name, pair, document)
    return issues


def _witness_issues(name: str, pair: Pair, document: Document) -> list[Issue]:
    own = set(pair.heartbeat.listen.values())
    return [document.issue(("pairs", name, "witnesses", index),
                           f"witness {address} is a heartbeat address of the pair; a witness is on another path")
            for index, address in enumerate(pair.witnesses) if address in own]


def detect_rule_sites(partial: Partial, document: Document) -> list[Issue]:
    """Rules on the processes' cpu, memory and disk need local sites, which can read them."""
    if partial.sites is None:
        return []
    issues = []
    sites = dict(partial.sites.valid())
    for name, pair in _pairs(partial):
        remote = [s for s in pair.nodes() if s in sites and not isinstance(sites[s], LocalSite)]
        for index, rule in enumerate(pair.monitor.rules if pair.monitor else []):
            if rule.metric in _LOCAL_METRICS and remote:
                issues.append(document.issue(
                    ("pairs", name, "monitor", "rules", index, "metric"),
                    f"{rule.metric} is read from the app's processes on local sites; {', '.join(remote)} "
                    "is not local: use metric latency there"))
    return issues


def detect_alert_templates(partial: Partial, document: Document) -> list[Issue]:
    """Every template of an on_alert command parses and uses only what an alert provides."""
    return [document.issue(("pairs", name, "on_alert", position), problem)
            for name, pair in _pairs(partial) for position, arg in enumerate(pair.on_alert or [])
            for problem in templates.problems(arg, templates.PAIR_ALERT_CONTEXT)]


DETECTORS = (detect_pair_references, detect_pair_roles, detect_heartbeat_addresses, detect_rule_sites,
             detect_alert_templates)
