"""Jinja templates of runbooks: sandboxed, strict, checked at load time, rendered purely."""

from collections.abc import Iterable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment

from standby.suggest import did_you_mean

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)

# Names a hook's templates may use; the operation fills them in when it runs the step.
HOOK_NAMES = frozenset({"runbook", "operation", "mode", "site", "target", "group", "app", "recovery_point", "python"})
# Names an `on_alert` hook's templates may use: what the alert is about, in one sentence, and where to look.
ALERT_NAMES = frozenset({"runbook", "operation", "alert", "workflow", "python"})
# Names an app's start/stop/health command may use on the local provider.
PROCESS_NAMES = frozenset({"runbook", "site", "app", "machine", "port", "data", "python", "endpoints"})


def is_template(text: str) -> bool:
    """Whether a string holds Jinja syntax at all (plain strings skip parsing)."""
    return "{{" in text or "{%" in text or "{#" in text


def problems(text: str, allowed: Iterable[str]) -> list[str]:
    """Why a template would fail: a syntax error or a name the context never defines."""
    if not is_template(text):
        return []
    try:
        tree = _ENV.parse(text)
    except TemplateSyntaxError as error:
        return [f"template syntax error: {error.message}"]
    allowed_names = set(allowed)
    unknown = sorted(meta.find_undeclared_variables(tree) - allowed_names)
    return [f"unknown template variable '{name}'{_hint(name, allowed_names)}" for name in unknown]


def render(text: str, context: Mapping[str, Any]) -> str:
    """Render one template against a context; a pure function of both."""
    if not is_template(text):
        return text
    return _ENV.from_string(text).render(**context)


def render_argv(argv: Iterable[str], context: Mapping[str, Any]) -> list[str]:
    """Render each argument of an argv list on its own: arguments never split or join."""
    return [render(arg, context) for arg in argv]


def _hint(name: str, allowed: set[str]) -> str:
    return did_you_mean(name, allowed) or f"; available: {', '.join(sorted(allowed))}"
