"""Checks of what would otherwise fail only when a step runs: templates, commands, ports, health deadlines."""

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import PurePosixPath

from standby import mixed_checks, templates
from standby.document import DocPath, Document
from standby.issues import Issue
from standby.partial import Partial
from standby.runbook import CommandHealth, CommandHook, LocalSite, MixedSite, PromptHook
from standby.template_kinds import Kind

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOP_PORT = 65535
Template = tuple[DocPath, str, Mapping[str, Kind]]


def detect_template_problems(partial: Partial, document: Document) -> list[Issue]:
    """Every Jinja template parses and checks against the context its step provides."""
    seen: dict[tuple[str, int], list[str]] = {}
    issues: list[Issue] = []
    for path, text, context in _templates(partial):
        # Many apps share one start argv; a template is checked once per context.
        key = (text, id(context))
        if key not in seen:
            seen[key] = templates.problems(text, context)
        issues.extend(document.issue(path, problem) for problem in seen[key])
    return issues


def _templates(partial: Partial) -> Iterable[Template]:
    for index, hook in partial.hooks.valid() if partial.hooks is not None else ():
        if isinstance(hook, CommandHook):
            names = templates.ALERT_CONTEXT if hook.point == "on_alert" else templates.HOOK_CONTEXT
            for position, arg in enumerate(hook.run):
                yield ("hooks", index, "run", position), arg, names
            for key, value in hook.env.items():
                if isinstance(value, str):  # a from_env value is read on the worker, no template
                    yield ("hooks", index, "env", key), value, names
        if isinstance(hook, PromptHook):
            yield ("hooks", index, "prompt"), hook.prompt, templates.PROMPT_CONTEXT
    if partial.apps is None:
        return
    entries = partial.apps.entries
    # An app whose entry failed its schema may well have a port: its key is not refused.
    process = templates.process_context((n for n, a in entries.items() if a and a.endpoint and a.endpoint.port),
                                        unchecked=(n for n, a in entries.items() if a is None))
    for name, app in partial.apps.valid():
        for field in ("start", "stop"):
            for position, arg in enumerate(getattr(app, field) or []):
                yield ("apps", name, field, position), arg, process
        for position, arg in enumerate(app.warm.start or [] if app.warm else []):
            yield ("apps", name, "warm", "start", position), arg, process


def detect_command_problems(partial: Partial, document: Document) -> list[Issue]:
    """Health check commands hold no templates (they run as written); hook env names are variable names."""
    issues = []
    for name, app in partial.apps.valid() if partial.apps is not None else ():
        for index, check in enumerate(app.health):
            for position, arg in enumerate(check.command.run if isinstance(check, CommandHealth) else []):
                if templates.is_template(arg):
                    path = ("apps", name, "health", index, "command", "run", position)
                    issues.append(document.issue(path, "health check commands run as written, templates are not "
                                                       "filled in; write the value out"))
    for index, hook in partial.hooks.valid() if partial.hooks is not None else ():
        for key, value in hook.env.items() if isinstance(hook, CommandHook) else ():
            if not _ENV_NAME.match(key):
                issues.append(document.issue(("hooks", index, "env", key), f"'{key}' is not an environment variable "
                                             "name; use letters, digits and '_', not starting with a digit", key=True))
            if isinstance(value, str) and "\0" in value:
                issues.append(document.issue(("hooks", index, "env", key), "an environment value cannot hold a NUL"))
    return issues


def detect_local_requirements(partial: Partial, document: Document) -> list[Issue]:
    """Apps a local provider holds somewhere say how to start their machines."""
    if partial.sites is None or partial.apps is None:
        return []
    message = "app '{}' has no 'start' argv; the local provider starts each machine with it"
    return [document.issue(("apps", name), message.format(name), key=True)
            for name, app in partial.apps.valid()
            if app.start is None and mixed_checks.needs_start(partial, app.machines)]


def detect_port_ranges(partial: Partial, document: Document) -> list[Issue]:
    """A local site's machines (live and drill) get ports port_base + their place; all must stay below 65536."""
    if partial.sites is None or partial.machines is None or not partial.machines:
        return []
    count, issues = len(partial.machines), []
    for name, site in partial.sites.valid():
        if not isinstance(site, LocalSite):
            continue
        drill_at = "test_port_base" if site.test_port_base else "port_base"
        for at, field, base, what in (("port_base", "port_base", site.port_base, "machine"),
                                      (drill_at, "test_port_base", site.test_ports_from(), "drill")):
            if base + count - 1 > _TOP_PORT:
                message = (f"{what} ports {base}-{base + count - 1} for {count} machines go past {_TOP_PORT}; "
                           f"set {field} to {_TOP_PORT - count + 1} or lower")
                issues.append(document.issue(("sites", name, at), message))
    return issues


def detect_health_deadlines(partial: Partial, document: Document) -> list[Issue]:
    """A health check's `within` gives the app some time: 0s cannot be waited for."""
    issues = []
    for name, app in partial.apps.valid() if partial.apps is not None else ():
        for index, check in enumerate(app.health):
            if check.within <= timedelta(0):
                message = "0s leaves no time to become healthy; give the app at least 1s"
                issues.append(document.issue(("apps", name, "health", index, "within"), message))
    return issues


def detect_shared_folders(partial: Partial, document: Document) -> list[Issue]:
    """Each local site's `path` is a folder of its own: not another site's, nor inside or around one."""
    if partial.sites is None:
        return []
    folders: list[tuple[str, DocPath, PurePosixPath]] = []
    for name, site in partial.sites.valid():
        members = site.providers.items() if isinstance(site, MixedSite) else [("", site)]
        for member, local in members:
            if isinstance(local, LocalSite) and local.path is not None:
                at: DocPath = ("sites", name, "providers", member, "path") if member else ("sites", name, "path")
                folders.append((f"{name}.{member}" if member else name, at, PurePosixPath(local.path)))
    issues = []
    for index, (_, at, folder) in enumerate(folders):
        for other, _, taken in folders[:index]:
            if folder == taken or folder in taken.parents or taken in folder.parents:
                how = "is the folder" if folder == taken else "nests with the folder"
                issues.append(document.issue(at, f"{folder} {how} of site '{other}' ({taken}): one site's machines, "
                                                 "points and endpoints would overwrite the other's; give each site "
                                                 "a folder of its own"))
                break
    return issues


DETECTORS = [detect_template_problems, detect_command_problems, detect_local_requirements, detect_port_ranges,
             detect_health_deadlines, detect_shared_folders]
