"""Compression of large payloads, so that a runbook of 10,000 machines and its truth fit Temporal's 2 MiB limit.

Only payloads over `THRESHOLD` are compressed: everything smaller (nearly every payload) stays readable as it is
in the Temporal UI, and histories written before this codec existed decode unchanged. A compressed payload holds
the whole original payload (metadata and data), zlib-compressed; `standby codec-server` opens it for the UI. With
codec keys, a payload is compressed first and then encrypted (ciphertext does not compress).
"""

import zlib
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from standby.codec import EncryptionCodec

ENCODING = b"binary/zlib"
# Well under the 2 MiB blob limit, well over any payload a person reads in the UI.
THRESHOLD = 256 * 1024
# zlib's fastest level: a 10,000-machine runbook's 1 MB compresses in a third of level 6's time (5 ms, not 16), to
# 130 KB instead of 110, far under the limit either way; workers compress on a failover's critical path.
LEVEL = 1


def compress(payload: Payload) -> Payload:
    """The payload, compressed when it is large and compression makes it smaller; else as it is."""
    if payload.ByteSize() <= THRESHOLD:
        return payload
    packed = zlib.compress(payload.SerializeToString(), LEVEL)
    return Payload(metadata={"encoding": ENCODING}, data=packed) if len(packed) < payload.ByteSize() else payload


def decompress(payload: Payload) -> Payload:
    """The payload inside a compressed one; any other payload as it is."""
    if payload.metadata.get("encoding") != ENCODING:
        return payload
    return Payload.FromString(zlib.decompress(payload.data))


class CompressionCodec(PayloadCodec):
    """Large payloads compressed, then (with keys) every payload encrypted by `inner`."""

    def __init__(self, inner: EncryptionCodec | None = None) -> None:
        self.inner = inner

    def encode_one(self, payload: Payload) -> Payload:
        """One payload as it is stored: compressed if large, then encrypted if there are keys."""
        packed = compress(payload)
        return self.inner.encrypt(packed) if self.inner else packed

    def decode_one(self, payload: Payload) -> Payload:
        """One stored payload opened: decrypted if encrypted, then decompressed if compressed."""
        return decompress(self.inner.decrypt(payload) if self.inner else payload)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """See base class."""
        return [self.encode_one(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """See base class."""
        return [self.decode_one(p) for p in payloads]
