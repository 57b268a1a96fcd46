"""Jinja templates of runbooks: what each context provides, checked completely at load time, rendered purely.

    TemplateFailed     raised by `render` for anything a template does wrong when it runs, with the reason

A context maps each name a template may use to its kind: `STRING`, `NUMBER`, or a `Namespace` whose keys
the runbook fixes (`endpoints`: the apps with a public endpoint port). Validation checks every template
against the context its step provides, so what passes `standby validate` does not fail when it runs.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from jinja2 import TemplateSyntaxError

from standby.template_check import check
from standby.template_filters import ENV
from standby.template_kinds import ANY, NUMBER, STRING, Kind, Namespace

# A prompt is rendered in the workflow, which knows no interpreter path.
PROMPT_CONTEXT: Mapping[str, Kind] = {
    name: STRING for name in ("runbook", "operation", "mode", "site", "target", "group", "app", "recovery_point")
}
# A hook's run argv and env are rendered on the worker, which adds its interpreter as `python`.
HOOK_CONTEXT: Mapping[str, Kind] = {**PROMPT_CONTEXT, "python": STRING}
# An `on_alert` hook's templates: what the alert is about, in one sentence, and where to look.
ALERT_CONTEXT: Mapping[str, Kind] = {name: STRING for name in ("runbook", "operation", "alert", "workflow", "python")}
# A pair's `on_alert` command (the protect monitor's alerts): its STANDBY_* facts, and the worker's python.
PAIR_ALERT_CONTEXT: Mapping[str, Kind] = {
    name: STRING for name in ("runbook", "pair", "event", "site", "app", "detail", "python")
}


def process_context(endpoint_apps: Iterable[str], unchecked: Iterable[str] = ()) -> dict[str, Kind]:
    """What an app's start and stop argv may use (local provider); `endpoints` holds the apps with a public port.

    Keys in `unchecked` are accepted as of any kind (apps whose own entry could not be read).
    """
    ports: dict[str, Kind] = {app: NUMBER for app in endpoint_apps}
    endpoints = Namespace({**ports, **dict.fromkeys(unchecked, ANY)}, "the apps with an endpoint port")
    return {"runbook": STRING, "site": STRING, "app": STRING, "machine": STRING, "port": NUMBER, "data": STRING,
            "python": STRING, "endpoints": endpoints}


class TemplateFailed(Exception):
    """A template that could not be rendered; `reason` says why."""

    def __init__(self, text: str, reason: str):
        super().__init__(f"template '{text}' failed: {reason}")
        self.text = text
        self.reason = reason


def is_template(text: str) -> bool:
    """Whether a string holds Jinja syntax at all (plain strings skip parsing)."""
    return "{{" in text or "{%" in text or "{#" in text


def problems(text: str, context: Mapping[str, Kind]) -> list[str]:
    """Why a template would fail or escape its sandbox in `context`; empty when it renders whatever the values."""
    if not is_template(text):
        return []
    try:
        tree = ENV.parse(text)
    except TemplateSyntaxError as error:
        return [f"template syntax error: {error.message}"]
    except RecursionError:
        return ["the template nests too deeply to read; split it"]
    return check(tree, context)


def render(text: str, context: Mapping[str, Any]) -> str:
    """Render one template against a context; a pure function of both. Raises TemplateFailed, nothing else."""
    if not is_template(text):
        return text
    try:
        return ENV.from_string(text).render(**context)
    except Exception as error:
        # Whatever went wrong (an undefined name, a sandbox refusal, a type error) fails the step that renders,
        # once, with the reason: callers turn this one type into a non-retryable step failure.
        raise TemplateFailed(text, _reason(error)) from None


def render_argv(argv: Iterable[str], context: Mapping[str, Any]) -> list[str]:
    """Render each argument of an argv list on its own: arguments never split or join."""
    return [render(arg, context) for arg in argv]


def _reason(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error)
    return message if type(error).__module__.startswith("jinja2") else f"{type(error).__name__}: {message}"
