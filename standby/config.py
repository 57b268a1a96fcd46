"""Where Standby keeps state and how it reaches Temporal, from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from temporalio.service import TLSConfig

from standby.codec import KEYS_ENV, CodecKeyError, Keyring

TASK_QUEUE = "standby"
PATIENCE_SECONDS = 60.0
_TLS_FILES = {"tls_ca": "TEMPORAL_TLS_CA", "tls_cert": "TEMPORAL_TLS_CERT", "tls_key": "TEMPORAL_TLS_KEY"}


class SettingsError(ValueError):
    """A setting from the environment is unusable; the message names the variable and the fix."""


def _flag(environ: Mapping[str, str], name: str) -> bool | None:
    """A true/false variable, None when unset."""
    value = environ.get(name, "").strip().lower()
    if not value:
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={value!r} is not a flag; write {name}=true or {name}=false")


def _path(environ: Mapping[str, str], name: str) -> Path | None:
    value = environ.get(name, "").strip()
    return Path(value) if value else None


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "")
    if not text:
        return default
    try:
        if float(text) >= 0:
            return float(text)
    except ValueError:
        pass
    raise SettingsError(f"{name}={text!r} is not a number of seconds; set it to one (e.g. 60) or unset it")


@dataclass(frozen=True)
class Settings:
    """Settings shared by the CLI, the worker and the embedded server."""

    state_dir: Path
    temporal_address: str
    namespace: str
    task_queue: str
    ui_url: str
    tls_enabled: bool | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_server_name: str | None = None
    api_key: str | None = field(default=None, repr=False)
    codec_keys: str = field(default="", repr=False)
    patience: float = PATIENCE_SECONDS

    @classmethod
    def from_env(cls, state_dir: str | None = None, environ: Mapping[str, str] = os.environ) -> "Settings":
        """Settings from STANDBY_STATE, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, STANDBY_TASK_QUEUE, TEMPORAL_UI,
        TEMPORAL_TLS, TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_SERVER_NAME,
        TEMPORAL_API_KEY, STANDBY_CODEC_KEYS and STANDBY_CLIENT_PATIENCE (seconds a client keeps trying while the
        server does not answer)."""
        return cls(
            state_dir=Path(state_dir or environ.get("STANDBY_STATE", ".standby")).resolve(),
            temporal_address=environ.get("TEMPORAL_ADDRESS", "localhost:7233"),
            namespace=environ.get("TEMPORAL_NAMESPACE", "default"),
            task_queue=environ.get("STANDBY_TASK_QUEUE", TASK_QUEUE),
            ui_url=environ.get("TEMPORAL_UI", "http://localhost:8233"),
            tls_enabled=_flag(environ, "TEMPORAL_TLS"),
            **{attr: _path(environ, name) for attr, name in _TLS_FILES.items()},
            tls_server_name=environ.get("TEMPORAL_TLS_SERVER_NAME", "").strip() or None,
            api_key=environ.get("TEMPORAL_API_KEY", "").strip() or None,
            codec_keys=environ.get(KEYS_ENV, ""),
            patience=_seconds(environ, "STANDBY_CLIENT_PATIENCE", PATIENCE_SECONDS),
        )

    def workflow_url(self, workflow_id: str, run_id: str | None = None) -> str:
        """The Temporal UI page of one workflow."""
        url = f"{self.ui_url}/namespaces/{self.namespace}/workflows/{quote(workflow_id, safe='')}"
        return f"{url}/{run_id}" if run_id else url

    def tls(self) -> TLSConfig | bool | None:
        """The client's TLS: a TLSConfig from the files, True or False as TEMPORAL_TLS says, or None
        (Temporal's default: TLS exactly when an API key is set)."""
        given = {name: getattr(self, attr) for attr, name in _TLS_FILES.items() if getattr(self, attr)}
        if self.tls_enabled is False:
            if given or self.tls_server_name:
                named = ", ".join([*given, *(["TEMPORAL_TLS_SERVER_NAME"] if self.tls_server_name else [])])
                raise SettingsError(f"TEMPORAL_TLS=false but {named} is set; unset one or the other")
            return False
        if bool(self.tls_cert) != bool(self.tls_key):
            raise SettingsError("mutual TLS needs both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY; set the missing one")
        if not given and not self.tls_server_name:
            return self.tls_enabled
        return TLSConfig(server_root_ca_cert=self._read(self.tls_ca, "TEMPORAL_TLS_CA"),
                         client_cert=self._read(self.tls_cert, "TEMPORAL_TLS_CERT"),
                         client_private_key=self._read(self.tls_key, "TEMPORAL_TLS_KEY"),
                         domain=self.tls_server_name)

    @staticmethod
    def _read(path: Path | None, name: str) -> bytes | None:
        """A PEM file named by a variable, or a SettingsError naming the variable, the path and the reason."""
        if path is None:
            return None
        try:
            data = path.read_bytes()
        except OSError as error:
            raise SettingsError(f"{name}={path}: cannot read it ({error.strerror or error}); "
                                "point it at a PEM file the worker and CLI can read") from None
        if b"-----BEGIN " not in data:
            raise SettingsError(f"{name}={path}: not a PEM file (no '-----BEGIN' line); give the PEM form")
        return data

    def keyring(self) -> Keyring | None:
        """The payload codec's keys, None when STANDBY_CODEC_KEYS is unset (payloads in clear)."""
        try:
            return Keyring.parse(self.codec_keys) if self.codec_keys.strip() else None
        except CodecKeyError as error:
            raise SettingsError(str(error)) from None
