"""Encoding of session values: Flask's tagged JSON, one value at a time.

Each top-level session key is stored as its own Redis hash field, so values
are encoded one by one. The encoding is Flask's ``flask.json.tag`` (tuples,
bytes, Markup, UUID and datetimes keep their types) with additions:

- a datetime tag that keeps microseconds and time zone, registered ahead of
  Flask's HTTP-date tag, which still decodes (cookies taken over from Flask);
- ``date``, ``time`` and ``Decimal``, which Flask's cookie session accepts but
  reads back as strings, keep their types here;
- dataclass instances are stored as dicts of their fields, as Flask's cookie
  session does (``dataclasses.asdict``); they read back as dicts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from flask.json.tag import JSONTag, TagDateTime, TaggedJSONSerializer

# Field names in the Redis hash: user keys carry "k:", metadata "!".
USER_PREFIX = "k:"
CREATED_FIELD = "!c"
VERSION_FIELD = "!v"


class TagISODateTime(JSONTag):
    """datetime as ISO 8601, exact to the microsecond, naive stays naive."""

    __slots__ = ()
    key = " dt"

    def check(self, value: Any) -> bool:
        return isinstance(value, datetime)

    def to_json(self, value: Any) -> Any:
        return value.isoformat()

    def to_python(self, value: Any) -> Any:
        return datetime.fromisoformat(value)


class TagDate(JSONTag):
    """date (not datetime, tagged before this one) as ISO 8601 ``YYYY-MM-DD``."""

    __slots__ = ()
    key = " da"

    def check(self, value: Any) -> bool:
        return isinstance(value, date) and not isinstance(value, datetime)

    def to_json(self, value: Any) -> Any:
        return value.isoformat()

    def to_python(self, value: Any) -> Any:
        return date.fromisoformat(value)


class TagTime(JSONTag):
    """time of day as ISO 8601, exact to the microsecond, with its UTC offset if any."""

    __slots__ = ()
    key = " ti"

    def check(self, value: Any) -> bool:
        return isinstance(value, time)

    def to_json(self, value: Any) -> Any:
        return value.isoformat()

    def to_python(self, value: Any) -> Any:
        return time.fromisoformat(value)


class TagDecimal(JSONTag):
    """Decimal as its exact string (``str`` keeps digits, exponent, NaN, -0)."""

    __slots__ = ()
    key = " de"

    def check(self, value: Any) -> bool:
        return isinstance(value, Decimal)

    def to_json(self, value: Any) -> Any:
        return str(value)

    def to_python(self, value: Any) -> Any:
        return Decimal(value)


class SessionSerializer(TaggedJSONSerializer):
    """Tagged JSON without Flask's app context: the same bytes in any process."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__()
        position = next(i for i, tag in enumerate(self.order) if isinstance(tag, TagDateTime))
        self.register(TagISODateTime, index=position)
        for tag in (TagDate, TagTime, TagDecimal):
            self.register(tag)

    def dumps(self, value: Any) -> str:
        return json.dumps(self.tag(value), separators=(",", ":"), default=self._default)

    def _default(self, value: Any) -> Any:
        # What Flask's JSON provider does with a dataclass; its fields are tagged.
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.tag(dataclasses.asdict(value))
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    def loads(self, value: str | bytes) -> Any:
        return self._untag_scan(json.loads(value))


serializer = SessionSerializer()


def encode_value(key: str, value: Any) -> bytes:
    """One session value as tagged JSON bytes.

    Raises TypeError naming the key when the value cannot be stored
    (sets, arbitrary objects): store something JSON-like instead.
    """
    try:
        return serializer.dumps(value).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"session[{key!r}] cannot be stored: {exc}") from exc


def decode_value(raw: bytes | str) -> Any:
    return serializer.loads(raw)


def encode_fields(data: Mapping[str, Any]) -> dict[str, bytes]:
    """Every user key of ``data`` as {hash field: encoded value}."""
    fields: dict[str, bytes] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise TypeError(f"session keys must be str, not {type(key).__name__}: {key!r}")
        fields[USER_PREFIX + key] = encode_value(key, value)
    return fields


def decode_fields(fields: Mapping[str, bytes]) -> dict[str, Any]:
    """User data from hash fields; metadata fields are skipped."""
    return {
        name[len(USER_PREFIX) :]: decode_value(raw)
        for name, raw in fields.items()
        if name.startswith(USER_PREFIX)
    }
