"""Payload encryption: AES-256-GCM under named keys from STANDBY_CODEC_KEYS, so that keys can rotate.

`STANDBY_CODEC_KEYS="k2:BASE64,k1:BASE64"`: the first key encrypts, every key decrypts. Each encrypted payload
names its key in its metadata; the key id and the encoding are authenticated with the data, so a payload
moved under another key id or tampered with does not decrypt. Payloads that are not encrypted (histories
written before the codec was turned on) pass through on decode.
"""

import base64
import binascii
import os
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

KEYS_ENV = "STANDBY_CODEC_KEYS"
ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HINT = f"write {KEYS_ENV}=ID:BASE64[,ID:BASE64...], each key 32 random bytes (`openssl rand -base64 32`)"


class CodecKeyError(ValueError):
    """The codec keys are malformed; the message names the entry and the fix, never a key."""


class DecodeError(ValueError):
    """An encrypted payload cannot be opened: unknown key id, or data that fails authentication."""


class Keyring:
    """Named AES-256 keys; the first one encrypts."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise CodecKeyError(f"{KEYS_ENV} holds no key; {_HINT}")
        self._keys = dict(keys)
        self.current = keys[0][0]

    def __repr__(self) -> str:
        return f"Keyring({', '.join(self._keys)})"

    @property
    def ids(self) -> list[str]:
        """Key ids, the encrypting one first."""
        return list(self._keys)

    def aead(self, key_id: str) -> AESGCM | None:
        """The cipher of one key, or None when the ring does not hold it."""
        key = self._keys.get(key_id)
        return AESGCM(key) if key is not None else None

    @classmethod
    def parse(cls, text: str) -> "Keyring":
        """Keys from `ID:BASE64,ID:BASE64`."""
        keys: list[tuple[str, bytes]] = []
        for number, entry in enumerate((e.strip() for e in text.split(",") if e.strip()), start=1):
            key_id, key = _parse_entry(number, entry)
            if any(key_id == seen for seen, _ in keys):
                raise CodecKeyError(f"{KEYS_ENV}: entry {number}: key id '{key_id}' appears twice; "
                                    "give each key its own id")
            keys.append((key_id, key))
        return cls(keys)


def _parse_entry(number: int, entry: str) -> tuple[str, bytes]:
    """One `ID:BASE64` entry; errors name the entry by number and id only."""
    key_id, colon, encoded = entry.partition(":")
    key_id = key_id.strip()
    if not colon or not _KEY_ID_PATTERN.match(key_id):
        raise CodecKeyError(f"{KEYS_ENV}: entry {number} is not ID:BASE64 with an id of letters, digits, '_', '.' "
                            f"or '-'; {_HINT}")
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise CodecKeyError(f"{KEYS_ENV}: entry {number} ('{key_id}'): the key is not base64; {_HINT}") from None
    if len(key) != KEY_BYTES:
        raise CodecKeyError(f"{KEYS_ENV}: entry {number} ('{key_id}'): the key has {len(key)} bytes, "
                            f"expected {KEY_BYTES}; {_HINT}")
    return key_id, key


def _associated(key_id: str) -> bytes:
    """What each ciphertext authenticates besides itself: the encoding and the key id it claims."""
    return ENCODING + b"\0" + key_id.encode()


class EncryptionCodec(PayloadCodec):
    """Temporal payload codec: every payload encrypted under the ring's current key."""

    def __init__(self, keys: Keyring) -> None:
        self.keys = keys
        self._current = keys.aead(keys.current)

    def encrypt(self, payload: Payload) -> Payload:
        """One payload (metadata and data) sealed under the current key."""
        assert self._current is not None
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._current.encrypt(nonce, payload.SerializeToString(), _associated(self.keys.current))
        return Payload(metadata={"encoding": ENCODING, KEY_ID: self.keys.current.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        """The payload inside an encrypted one; any other payload as it is."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        aead = self.keys.aead(key_id)
        if aead is None:
            raise DecodeError(f"payload encrypted with key '{key_id}', which {KEYS_ENV} does not hold "
                              f"(it holds {', '.join(self.keys.ids)}); add the old key after the current one")
        try:
            clear = aead.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], _associated(key_id))
        except InvalidTag:
            raise DecodeError(f"payload under key '{key_id}' fails authentication: it was altered, "
                              "or the key with this id is not the one that encrypted it") from None
        return Payload.FromString(clear)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """See base class."""
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """See base class."""
        return [self.decrypt(p) for p in payloads]
