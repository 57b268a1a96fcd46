"""What the worker's child processes see: what the runbook gives them and a few harmless variables, never the
worker's credentials; and the redaction of known secret values from what they print."""

import os
import re
from collections.abc import Iterable, Mapping

PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "HOME", "TZ", "TMPDIR")
"""The worker's variables a child inherits: enough to find programs, speak the locale and write temporary files."""

SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|KEY", re.IGNORECASE)
"""Names of worker variables whose values are redacted from hook output wherever they appear."""

MIN_SECRET_LENGTH = 4
"""Shorter values are not redacted: replacing every '1' or 'yes' would garble output and hide nothing."""

REDACTED = "***"


def child_environment(given: Mapping[str, str] | None = None,
                      environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The harmless variables of the worker's environment, then the ones given (which win)."""
    clean = {name: environ[name] for name in PASSED_THROUGH if name in environ}
    clean.update(given or {})
    return clean


def worker_secrets(environ: Mapping[str, str] = os.environ) -> set[str]:
    """Values of the worker's variables whose names look secret (*SECRET*, *PASSWORD*, *TOKEN*, *KEY*)."""
    return {value for name, value in environ.items() if SECRET_NAME.search(name)}


def secrets_to_hide(known: Iterable[str] = (), environ: Mapping[str, str] = os.environ) -> list[str]:
    """The values to redact, longest first so that a secret containing another is hidden whole."""
    values = {v for v in (*known, *worker_secrets(environ)) if len(v) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """The text with every occurrence of each secret replaced by ***."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text
