"""Large runbooks decoded once per process: every payload that carries the same runbook gets the same model.

A failover of 10,000 machines carries its runbook in the owner's update (which the SDK decodes twice, for the
validator and the handler) and in the operation's input; each decode validated a megabyte of JSON into tens of
thousands of models, 0.1-0.3 s apiece. The key is the digest of the runbook's JSON as the payload holds it, so two
payloads share a model only when they hold the same runbook; the models are frozen, so workflows can share one.
"""

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from pydantic_core import to_json

# The validation context of payload decoding (standby.converter); a runbook validated elsewhere (a runbook file,
# a test's constructor) is validated as it always was.
PAYLOAD = {"payload": True}
# Below this a runbook decodes in a few milliseconds: digesting it would cost about as much as it saves.
SMALLEST = 64 * 1024
# A worker serving more runbooks than this decodes the others each time, as before.
ENTRIES = 8


class Decoded:
    """A bounded, thread-safe map of runbook digests to their models, least recently used out first."""

    def __init__(self, entries: int = ENTRIES, smallest: int = SMALLEST) -> None:
        self._entries, self._smallest = entries, smallest
        self._models: OrderedDict[bytes, Any] = OrderedDict()
        # Workflow tasks run on the SDK's thread pool.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._models)

    def get(self, data: Any, validate: Callable[[Any], Any]) -> Any:
        """The model of `data` (a runbook as a payload's JSON holds it), validated only if not seen lately."""
        text = to_json(data)
        if len(text) < self._smallest:
            return validate(data)
        key = hashlib.sha256(text).digest()
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
        model = validate(data)
        with self._lock:
            self._models[key] = model
            while len(self._models) > self._entries:
                self._models.popitem(last=False)
        return model


RUNBOOKS = Decoded()
