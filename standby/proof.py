"""Sealed proofs: an operator's directory credentials, sealed by the CLI to the worker's public key and bound
to one action (workflow ID, run ID, gate) with a nonce and an expiry.

ECIES over X25519: a fresh key pair per proof, HKDF-SHA256 of the shared secret, AES-256-GCM over the claims,
with both public keys authenticated. Only the holder of the worker's private key opens a proof; whoever reads
it in a history sees random bytes, and a copy sent to another workflow, run or gate, or after its expiry, is
refused by the worker.
"""

import base64
import binascii
import getpass
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError

from standby.access import Binding

PRIVATE_KEY_ENV = "STANDBY_WORKER_KEY"
PUBLIC_KEY_ENV = "STANDBY_WORKER_PUBLIC_KEY"
PASSWORD_ENV = "STANDBY_PASSWORD"
USER_ENV = "STANDBY_USER"
PREFIX = "sbp1."
DEFAULT_TTL = 300.0
"""Seconds a proof stays good: long enough to reach a worker, too short to be worth stealing."""
MAX_TTL = 900.0
CLOCK_SKEW = 60.0
"""Seconds the CLI's clock may differ from the worker's."""
_INFO = b"standby proof v1"
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


class _Claims(Binding):
    """What a proof holds: the binding, who with which password, a nonce, when, from where."""

    username: str
    password: str
    nonce: str
    issued_at: float
    expires_at: float
    client: str


class ProofError(Exception):
    """A key cannot be used (missing, unreadable, not an X25519 key, readable by others); says which and why."""


class ProofRefused(Exception):
    """The proof does not prove the action: it does not open, is for another action, or has expired."""


@dataclass(frozen=True)
class Opened:
    """What an opened proof says: who (with the password to prove it to the directory), from where, until when."""

    username: str
    password: str = field(repr=False)
    nonce: str
    client: str
    expires_at: float


def generate_keys(private_path: Path, public_path: Path) -> None:
    """Write a new worker key pair as PEM, the private key readable by its owner only; never overwrite."""
    key = X25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for path, data, mode in ((private_path, private, 0o600), (public_path, public, 0o644)):
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            raise ProofError(f"{path} exists; keygen never overwrites a key, move it away first") from None
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)


def _read_key(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ProofError(f"{name}={path}: cannot read it ({error.strerror or error}); "
                         "create a key pair with `standby keygen`") from None


def load_private_key(path: Path, name: str = PRIVATE_KEY_ENV) -> X25519PrivateKey:
    """The worker's private key from a PEM file that only its owner can read."""
    data = _read_key(path, name)
    if path.stat().st_mode & 0o077:
        raise ProofError(f"{name}={path} is readable by others (mode {path.stat().st_mode & 0o777:o}); chmod 600 it")
    key = serialization.load_pem_private_key(data, password=None) if b"-----BEGIN" in data else None
    if not isinstance(key, X25519PrivateKey):
        raise ProofError(f"{name}={path} is not an X25519 private key in PEM; create one with `standby keygen`")
    return key


def load_public_key(path: Path, name: str = PUBLIC_KEY_ENV) -> X25519PublicKey:
    """The worker's public key from a PEM file."""
    data = _read_key(path, name)
    key = serialization.load_pem_public_key(data) if b"-----BEGIN" in data else None
    if not isinstance(key, X25519PublicKey):
        raise ProofError(f"{name}={path} is not an X25519 public key in PEM; copy the one `standby keygen` wrote")
    return key


def _from_env(environ: Mapping[str, str], name: str) -> Path:
    value = environ.get(name, "").strip()
    if not value:
        raise ProofError(f"{name} is not set; point it at the worker's key file (`standby keygen` writes a pair)")
    return Path(value)


def private_key_from_env(environ: Mapping[str, str] = os.environ) -> X25519PrivateKey:
    """The worker's private key, from the file STANDBY_WORKER_KEY names."""
    return load_private_key(_from_env(environ, PRIVATE_KEY_ENV))


def public_key_from_env(environ: Mapping[str, str] = os.environ) -> X25519PublicKey:
    """The worker's public key, from the file STANDBY_WORKER_PUBLIC_KEY names."""
    return load_public_key(_from_env(environ, PUBLIC_KEY_ENV))


def _cipher(shared: bytes, ephemeral: bytes, recipient: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO).derive(shared)
    return AESGCM(key)


def seal(public_key: X25519PublicKey, username: str, password: str, binding: Binding, *,
         ttl: float = DEFAULT_TTL, now: float | None = None, client: str | None = None) -> str:
    """A proof that `username` (with `password`) performs the action `binding`, good for `ttl` seconds."""
    issued = time.time() if now is None else now
    claims = _Claims(username=username, password=password, **binding.model_dump(),
                     nonce=base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("="),
                     issued_at=issued, expires_at=issued + ttl, client=client or socket.gethostname())
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw, recipient_raw = ephemeral.public_key().public_bytes(*_RAW), public_key.public_bytes(*_RAW)
    nonce = os.urandom(12)
    sealed = _cipher(ephemeral.exchange(public_key), ephemeral_raw, recipient_raw).encrypt(
        nonce, claims.model_dump_json().encode(), _INFO + ephemeral_raw + recipient_raw)
    return PREFIX + base64.urlsafe_b64encode(ephemeral_raw + nonce + sealed).decode()


def _claims(private_key: X25519PrivateKey, proof: str) -> _Claims:
    """The claims inside a proof, or ProofRefused when it does not open with this key."""
    try:
        raw = base64.urlsafe_b64decode(proof.removeprefix(PREFIX).encode()) if proof.startswith(PREFIX) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) < 32 + 12 + 16:
        raise ProofRefused("not a Standby proof; the CLI seals one when it asks for the password")
    ephemeral_raw, nonce, sealed = raw[:32], raw[32:44], raw[44:]
    recipient_raw = private_key.public_key().public_bytes(*_RAW)
    shared = private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
    try:
        cipher = _cipher(shared, ephemeral_raw, recipient_raw)
        clear = cipher.decrypt(nonce, sealed, _INFO + ephemeral_raw + recipient_raw)
    except InvalidTag:
        raise ProofRefused("the proof does not open with this worker's key: it was altered, "
                           "or sealed to another worker's public key") from None
    try:
        return _Claims.model_validate_json(clear)
    except ValidationError:
        raise ProofRefused("the proof opens but does not hold a Standby proof's claims") from None


def open_proof(private_key: X25519PrivateKey, proof: str, expected: Binding, *, now: float) -> Opened:
    """Who the proof says acts, once it opens, is bound to `expected` and is within its time."""
    claims = _claims(private_key, proof)
    sealed_for = Binding(workflow_id=claims.workflow_id, run_id=claims.run_id, gate=claims.gate)
    if sealed_for != expected:
        raise ProofRefused(f"the proof is for {sealed_for.describe()}, not {expected.describe()}")
    if now > claims.expires_at:
        raise ProofRefused(f"the proof expired {now - claims.expires_at:.0f}s ago; run the command again")
    if claims.issued_at > now + CLOCK_SKEW or claims.expires_at - claims.issued_at > MAX_TTL:
        raise ProofRefused(f"the proof's times are not credible (issued {claims.issued_at:.0f}, "
                           f"expires {claims.expires_at:.0f}, worker clock {now:.0f}); check the CLI's clock")
    return Opened(claims.username, claims.password, claims.nonce, claims.client, claims.expires_at)


def credentials(username: str | None = None, password_file: Path | None = None,
                environ: Mapping[str, str] = os.environ,
                prompt: Callable[[str], str] = getpass.getpass) -> tuple[str, str]:
    """The operator's username and password: the password from a file, else STANDBY_PASSWORD, else prompted;
    never from an argument. The username as given, else STANDBY_USER, else the login name."""
    name = username or environ.get(USER_ENV) or getpass.getuser()
    if password_file is not None:
        try:
            password = password_file.read_text().rstrip("\r\n")
        except OSError as error:
            raise ProofError(f"cannot read the password file {password_file}: {error.strerror or error}") from None
    elif environ.get(PASSWORD_ENV):
        password = environ[PASSWORD_ENV]
    else:
        password = prompt(f"directory password for {name}: ")
    if not password:
        raise ProofError(f"no password for {name}: an empty one proves nothing to the directory")
    return name, password
