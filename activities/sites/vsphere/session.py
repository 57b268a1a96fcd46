"""One pyvmomi session per worker and vCenter: credentials from the worker, TLS verified unless a site opts out.

A session logs in on first use and is kept. When vCenter expires it (idle
timeout, restart, an administrator ending it), the next call that answers
NotAuthenticated logs in again on the same connection, so the managed object
references callers hold stay valid, and is retried once.
"""

import asyncio
import configparser
import os
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from activities.sites.base import PermanentProviderError
from activities.sites.vsphere.errors import mapped
from standby.runbook import VsphereSite

T = TypeVar("T")
USER_VARIABLE, PASSWORD_VARIABLE = "VSPHERE_USER", "VSPHERE_PASSWORD"
CONNECT_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Credentials:
    """Who the worker logs in as; the password never shows in a repr or a message."""

    user: str
    password: str = field(repr=False)
    source: str = ""


def credentials(config: VsphereSite, environ: Mapping[str, str] = os.environ) -> Credentials:
    """The site's credentials file when it names one, else VSPHERE_USER and VSPHERE_PASSWORD of the worker."""
    if config.credentials_file:
        return _from_file(Path(config.credentials_file))
    user, password = environ.get(USER_VARIABLE), environ.get(PASSWORD_VARIABLE)
    if not user or not password:
        raise PermanentProviderError(
            f"no vCenter credentials for {config.host}: set {USER_VARIABLE} and {PASSWORD_VARIABLE} in the worker's "
            "environment, or give the site a credentials_file")
    return Credentials(user, password, source=f"${USER_VARIABLE}")


def _from_file(path: Path) -> Credentials:
    """`user = ...` and `password = ...`, under one [section] or none."""
    try:
        text = path.read_text()
    except OSError as error:
        raise PermanentProviderError(f"cannot read credentials file {path}: {error.strerror}") from error
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text if text.lstrip().startswith("[") else "[vcenter]\n" + text)
    except configparser.Error as error:
        raise PermanentProviderError(f"credentials file {path} is not `user = ...` / `password = ...`: "
                                     f"{error}") from error
    for section in parser.sections():
        values = parser[section]
        user = values.get("user") or values.get("username")
        if user and values.get("password"):
            return Credentials(user, values["password"], source=str(path))
    raise PermanentProviderError(f"credentials file {path} needs `user = ...` and `password = ...`")


def ssl_context(config: VsphereSite) -> ssl.SSLContext | None:
    """Verified TLS (against ca_file, else the system's CAs); unverified only for sites that set insecure."""
    if config.protocol == "http":
        return None
    if config.insecure:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=config.ca_file) if config.ca_file else ssl.create_default_context()


class Session:
    """A logged-in connection to one vCenter, shared by every site and activity of this worker that uses it."""

    def __init__(self, config: VsphereSite, creds: Credentials):
        self.config, self.creds = config, creds
        self._instance: vim.ServiceInstance | None = None
        self._lock = threading.Lock()
        self._generation = 0
        self.logins = 0

    def call(self, fn: Callable[[vim.ServiceInstanceContent], T], what: str, context: str) -> T:
        """fn(content) on this session (blocking), renewed once if expired; faults mapped to provider errors."""
        for attempt in (1, 2):
            generation = self._generation
            try:
                return fn(self._content(what, context))
            except vim.fault.NotAuthenticated as error:
                if attempt == 2:
                    raise mapped(error, what, context) from error
                self._renew(generation, what, context)
            except Exception as error:  # every fault and transport error leaves here mapped, once
                raise mapped(error, what, context) from error
        raise AssertionError("unreachable")

    async def run(self, fn: Callable[[vim.ServiceInstanceContent], T], what: str, context: str) -> T:
        """`call` in a worker thread: pyvmomi blocks, the event loop keeps heartbeating."""
        return await asyncio.to_thread(self.call, fn, what, context)

    def _content(self, what: str, context: str) -> vim.ServiceInstanceContent:
        with self._lock:
            if self._instance is None:
                self._instance = self._connect(what, context)
            return self._instance.content

    def _connect(self, what: str, context: str) -> vim.ServiceInstance:
        try:
            instance = SmartConnect(
                protocol=self.config.protocol, host=self.config.host, port=self.config.port, user=self.creds.user,
                pwd=self.creds.password, sslContext=ssl_context(self.config),
                httpConnectionTimeout=CONNECT_TIMEOUT_SECONDS)
        except Exception as error:
            raise mapped(error, f"{what}: login as {self.creds.user}", context) from error
        self.logins += 1
        return instance

    def _renew(self, generation: int, what: str, context: str) -> None:
        """Log in again on the same connection, unless another thread already did since `generation`."""
        with self._lock:
            if generation != self._generation or self._instance is None:
                return
            try:
                # pyVmomi types the session manager optional (a vCenter has one) and locale required (it is not).
                manager = cast(vim.SessionManager, self._instance.content.sessionManager)
                manager.Login(userName=self.creds.user, password=self.creds.password)  # type: ignore[call-arg]
            except Exception as error:
                raise mapped(error, f"{what}: renewing the session of {self.creds.user}", context) from error
            self.logins += 1
            self._generation += 1

    def close(self) -> None:
        """Log out; the next call logs in again."""
        with self._lock:
            instance, self._instance = self._instance, None
        if instance is not None:
            try:
                Disconnect(instance)
            except Exception:  # logging out of a vCenter that is gone must not fail a shutdown
                pass


class SessionPool:
    """Sessions by vCenter endpoint, TLS settings and user: one per worker however many runbooks name it."""

    def __init__(self) -> None:
        self._sessions: dict[tuple, Session] = {}
        self._lock = threading.Lock()

    def get(self, config: VsphereSite) -> Session:
        """The session for a site's vCenter, made on first use."""
        creds = credentials(config)
        key = (config.protocol, config.host, config.port, config.insecure, config.ca_file, creds.user, creds.password)
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = Session(config, creds)
            return self._sessions[key]

    def close_all(self) -> None:
        """Log every session out."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()


POOL = SessionPool()
"""The worker's sessions."""
