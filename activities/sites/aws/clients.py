"""The AWS SDK clients of one site, built from the worker's environment, and the one async call path through them.

Credentials come from boto3's default chain (environment, shared config, SSO, instance or task role), with the
site's optional `profile`; never from a runbook or a workflow input. `STANDBY_AWS_ENDPOINT_URL` points every client
at one endpoint: tests use it for moto's server.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from activities.sites.aws.errors import SDK_ERRORS, context, mapped
from activities.sites.base import PermanentProviderError
from standby.contracts.sites import SiteRef
from standby.runbook import AwsSite

ENDPOINT_ENV = "STANDBY_AWS_ENDPOINT_URL"
# botocore's own retries ride out a throttled second; longer waits belong to the activity's retry policy.
SDK_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=10, read_timeout=60)


@dataclass
class AwsClients:
    """One site's clients: Elastic Disaster Recovery, EC2, Route 53, SSM and STS."""

    drs: Any
    ec2: Any
    route53: Any
    ssm: Any
    sts: Any = None

    @classmethod
    def connect(cls, site: AwsSite, config: Config = SDK_CONFIG) -> AwsClients:
        """Clients for the site's region (and profile) with the worker's credentials."""
        session = boto3.Session(profile_name=site.profile, region_name=site.region)
        return cls(**{name: client(session, name, config) for name in ("drs", "ec2", "route53", "ssm", "sts")})


def connect(site: SiteRef) -> AwsClients:
    """Clients of an AWS site of a runbook; a profile the worker does not have is a permanent error."""
    config = site.config
    assert isinstance(config, AwsSite)
    try:
        return AwsClients.connect(config)
    except SDK_ERRORS as error:
        raise mapped(error, "boto3.Session", f"site={site.name}, region={config.region}") from None


def client(session: Any, service: str, config: Config = SDK_CONFIG) -> Any:
    """One SDK client of a session, at the test endpoint when one is set."""
    return session.client(service, endpoint_url=os.environ.get(ENDPOINT_ENV) or None, config=config)


def service_endpoint(region: str) -> tuple[str, int, str]:
    """Host, port and scheme of the DRS service endpoint the Failback Client must reach over HTTPS."""
    override = os.environ.get(ENDPOINT_ENV)
    if override:
        parts = urlsplit(override)
        return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80), parts.scheme
    return f"drs.{region}.amazonaws.com", 443, "https"


def installation_identity(token: str, site: AwsSite) -> dict[str, str]:
    """Who the installation token is (`ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]`), asked of STS; raises mapped errors."""
    parts = token.strip().split(":", 2)
    if len(parts) < 2 or not all(parts[:2]):
        raise PermanentProviderError("the installation token is not ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN] "
                                     f"[site region={site.region}]")
    session = boto3.Session(aws_access_key_id=parts[0], aws_secret_access_key=parts[1],
                            aws_session_token=parts[2] if len(parts) > 2 else None, region_name=site.region)
    try:
        found = client(session, "sts").get_caller_identity()
    except SDK_ERRORS as error:
        raise mapped(error, "sts.get_caller_identity", f"region={site.region}, installation token") from None
    return {"account": found["Account"], "arn": found["Arn"]}


class Api:
    """Async calls to one site's clients: in a thread, every SDK error mapped once, the site in each message."""

    def __init__(self, clients: AwsClients, describe: str):
        self.clients = clients
        self.describe = describe

    async def call(self, service: str, operation: str, server: str | None = None, benign: frozenset[str] = frozenset(),
                   **params: Any) -> dict[str, Any] | None:
        """`service.operation(**params)`; None when the error code is in `benign` (e.g. "not there yet")."""
        method: Callable[..., dict[str, Any]] = getattr(getattr(self.clients, service), operation)
        try:
            return await asyncio.to_thread(method, **params)
        except SDK_ERRORS as error:
            if benign and getattr(error, "response", {}).get("Error", {}).get("Code") in benign:
                return None
            raise mapped(error, f"{service}.{operation}", context(self.describe, server=server)) from None

    async def do(self, service: str, operation: str, server: str | None = None, **params: Any) -> dict[str, Any]:
        """`call` for operations whose every error is an error."""
        result = await self.call(service, operation, server, **params)
        assert result is not None
        return result

    async def pages(self, service: str, operation: str, key: str, server: str | None = None,
                    **params: Any) -> list[dict[str, Any]]:
        """Every item under `key` across the operation's pages."""
        paginator = getattr(self.clients, service).get_paginator(operation)

        def collect() -> list[dict[str, Any]]:
            return [item for page in paginator.paginate(**params) for item in page.get(key, [])]

        try:
            return await asyncio.to_thread(collect)
        except SDK_ERRORS as error:
            raise mapped(error, f"{service}.{operation}", context(self.describe, server=server)) from None
