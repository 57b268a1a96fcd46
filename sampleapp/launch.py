"""Command lines that start the sample shop's services as processes, wherever the package is installed."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

SERVICES = ("db", "api", "web")
_UPSTREAM = {"db": None, "api": "db", "web": "api"}
_ROOT = Path(__file__).resolve().parent.parent


def service_argv(service: str, port: int, data: Path, upstream_url: str | None = None) -> list[str]:
    """The argv that runs `service` ("db", "api" or "web") on 127.0.0.1:port with its data folder."""
    if service not in _UPSTREAM:
        raise ValueError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    argv = [sys.executable, "-m", f"sampleapp.{service}", "--port", str(port), "--data", str(data)]
    flag = _UPSTREAM[service]
    if flag is not None:
        if upstream_url is None:
            raise ValueError(f"service {service!r} needs the URL of its {flag}")
        argv += [f"--{flag}", upstream_url]
    return argv


def service_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment in which `python -m sampleapp.<service>` imports this copy of the package."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env
