"""Checks of warm starts (standby.warm): every app has one or none, and only local sites start apps warm."""

from standby.document import Document
from standby.issues import Issue
from standby.partial import Partial
from standby.runbook import LocalSite


def detect_warm_apps(partial: Partial, document: Document) -> list[Issue]:
    """A warm switchover readies every app at its target: an app without `warm` would have no place in it."""
    if partial.apps is None:
        return []
    apps = dict(partial.apps.valid())
    warm = [name for name, app in apps.items() if app.warm is not None]
    if not warm:
        return []
    cold = [name for name in apps if name not in warm]
    message = ("app '{}' has no 'warm' while {} {} one; a warm switchover readies every app at its target: add "
               "'warm: {{stateless: true}}' if it keeps no replicated data, a warm 'start' and 'promote' if it does, "
               "or drop 'warm' from the others")
    verb = "has" if len(warm) == 1 else "have"
    issues = [document.issue(("apps", name), message.format(name, ", ".join(warm), verb), key=True) for name in cold]
    return issues + _local_sites(partial, document, warm[0])


def _local_sites(partial: Partial, document: Document, app: str) -> list[Issue]:
    if partial.sites is None:
        return []
    other = [f"'{name}' ({site.provider})" for name, site in partial.sites.valid() if not isinstance(site, LocalSite)]
    if not other:
        return []
    return [document.issue(("apps", app, "warm"), f"warm starts run on local sites only; site {', '.join(other)} "
                                                  "is not local: drop 'warm' from the apps")]


DETECTORS = [detect_warm_apps]
