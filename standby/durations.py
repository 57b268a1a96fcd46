"""Durations as runbooks write them: `500ms`, `30s`, `5m`, `1h30m`, `7d`; a bare number is seconds.

Numbers and strings pass the same checks: never negative, never beyond `LONGEST`.
"""

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"
# Ten years: longer than any retention or timeout means, and far inside what Temporal's timers accept.
LONGEST = timedelta(days=3650)
_EXAMPLES = "e.g. 30s, 5m, 2h, 7d"


def parse_duration(text: str) -> timedelta:
    """Parse `1h30m` into a timedelta; raise ValueError naming the accepted units and bounds."""
    compact = text.strip().replace(" ", "")
    parts = _PART.findall(compact)
    if compact.startswith("-") and _PART.fullmatch(compact[1:]):
        raise ValueError(f"'{text}' is negative; a duration is 0s or more, {_EXAMPLES}")
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"'{text}' is not a duration; write a number and a unit, {_EXAMPLES}")
    return _bounded(sum(float(n) * _UNITS[u] for n, u in parts), f"'{text}'")


def format_duration(value: timedelta) -> str:
    """The shortest runbook spelling of a duration (`90s` -> `1m30s`)."""
    millis = round(value.total_seconds() * 1000)
    if millis == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def _bounded(seconds: float, shown: str) -> timedelta:
    if isinstance(seconds, float) and math.isnan(seconds):
        raise ValueError(f"{shown} is not a duration; write a number and a unit, {_EXAMPLES}")
    if seconds < 0:
        raise ValueError(f"{shown} is negative; a duration is 0s or more, {_EXAMPLES}")
    if seconds > LONGEST.total_seconds():
        raise ValueError(f"{shown} is longer than {LONGEST.days}d, the longest duration a runbook may give")
    return timedelta(seconds=float(seconds))


def _number(value: float) -> str:
    text = str(value)
    return f"{text} seconds" if len(text) <= 20 else f"{text[:20]}... seconds"


def _coerce(value: Any) -> Any:
    try:
        if isinstance(value, bool):
            raise ValueError(f"expected a duration such as 30s, 5m, 2h or 7d, got true/false '{value}'")
        if isinstance(value, (int, float)):
            return _bounded(value, _number(value))
        if isinstance(value, str):
            return parse_duration(value)
    except (ValueError, OverflowError) as error:
        raise PydanticCustomError("duration", str(error)) from None
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": PATTERN}, {"type": "number", "minimum": 0, "description": "seconds"}],
         "examples": ["30s", "5m", "7d"]},
        mode="validation",
    ),
]


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise PydanticCustomError("duration", "a period of 0s repeats without pause; give a positive duration, e.g. 1s")
    return value


# How often something repeats (replication passes, snapshots, heartbeats): zero would spin.
Period = Annotated[Duration, AfterValidator(_positive)]
