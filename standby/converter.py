"""The one data converter of every Standby client and worker: pydantic JSON without default values.

A runbook of thousands of machines repeats the same defaults thousands of
times; leaving them out (they come back on decoding) keeps every payload well
under Temporal's 2 MiB limit; what is still large is compressed (`standby.compression`). With codec keys, every
payload is also encrypted.
"""

from typing import Any

from pydantic import TypeAdapter
from pydantic_core import SchemaSerializer, core_schema
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
)

from standby.codec import EncryptionCodec, Keyring
from standby.compression import CompressionCodec
from standby.decoded import PAYLOAD

_SERIALIZER = SchemaSerializer(core_schema.any_schema())


class CompactJSONPayloadConverter(PydanticJSONPlainPayloadConverter):
    """Pydantic's JSON, with every field that holds its default left out."""

    def to_payload(self, value: object) -> Payload | None:
        """See base class."""
        return Payload(metadata={"encoding": self.encoding.encode()},
                       data=_SERIALIZER.to_json(value, exclude_defaults=True))

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        """See base class; validated in the payload context, where a large runbook is decoded once (standby.decoded)."""
        hint: Any = Any if type_hint is None else type_hint
        try:
            adapter = self._type_adapter(hint)
        except TypeError:
            # An unhashable hint is not cached; a hint pydantic cannot adapt still raises.
            adapter = TypeAdapter(hint)
        return adapter.validate_json(payload.data, context=PAYLOAD)


class CompactPayloadConverter(CompositePayloadConverter):
    """Temporal's default converters, with compact pydantic JSON in place of plain JSON."""

    def __init__(self) -> None:
        compact = CompactJSONPayloadConverter()
        super().__init__(*(compact if c.encoding == compact.encoding else c
                           for c in DefaultPayloadConverter.default_encoding_payload_converters))


DATA_CONVERTER = DataConverter(payload_converter_class=CompactPayloadConverter, payload_codec=CompressionCodec())


def data_converter(keys: Keyring | None) -> DataConverter:
    """DATA_CONVERTER, or with keys the same converter with every payload encrypted after compression."""
    if keys is None:
        return DATA_CONVERTER
    # Failure messages and stack traces carry hook output and error details: encrypted too.
    return DataConverter(payload_converter_class=CompactPayloadConverter,
                         payload_codec=CompressionCodec(EncryptionCodec(keys)),
                         failure_converter_class=DefaultFailureConverterWithEncodedAttributes)
