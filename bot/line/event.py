"""A webhook event as the handlers read it: the JSON LINE sent, read field by field.

The SDK's webhook models are not used to parse events before routing: they refuse a whole
event when LINE omits a field they require (a follow without `follow`, a text without
`quoteToken`) or sends a message or source type they do not know yet. Here every field is
read only where a handler needs it, and a field LINE adds is simply not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# Fields that must be objects when present: a signed body can still hold a string there,
# and such an event is malformed (it ends failed, with this reason).
OBJECT_FIELDS = (
    "source",
    "message",
    "postback",
    "link",
    "follow",
    "unsend",
    "joined",
    "left",
    "chatControl",
    "membership",
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class Fields:
    """Attribute access to a JSON object: `event.source.user_id` reads `source.userId`.

    A missing field reads as None; an object reads as another `Fields`.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = self._data.get(_camel(name))
        return Fields(value) if isinstance(value, Mapping) else value

    def __bool__(self) -> bool:
        return bool(self._data)

    def get(self, key: str, default: Any = None) -> Any:
        """The raw value of a JSON key (camelCase, as LINE spells it)."""
        return self._data.get(key, default)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)


class LineEvent(Fields):
    """One webhook event, with the routing facts every handler may ask for."""

    __slots__ = ()

    @property
    def source_type(self) -> str:
        """ "user", "group", "room", or "" when the event has no source (module events)."""
        source = self._data.get("source")
        return str(source.get("type", "")) if isinstance(source, Mapping) else ""

    @property
    def user_id(self) -> str | None:
        source = self._data.get("source")
        value = source.get("userId") if isinstance(source, Mapping) else None
        return value if isinstance(value, str) and value else None

    @property
    def chat_id(self) -> str | None:
        """The group or room id for a group or room source; the user id otherwise."""
        source = self._data.get("source")
        if not isinstance(source, Mapping):
            return None
        key = {"group": "groupId", "room": "roomId"}.get(self.source_type, "userId")
        value = source.get(key)
        return value if isinstance(value, str) and value else None

    @property
    def occurred_at(self) -> datetime:
        """When LINE says the event happened (aware UTC; stored events have a valid one)."""
        return datetime.fromtimestamp(int(self._data["timestamp"]) / 1000, UTC)

    @property
    def is_standby(self) -> bool:
        """Another channel has chat control: the event is for the record, not to answer."""
        return self._data.get("mode") == "standby"


def parse_event(raw: Mapping[str, Any]) -> LineEvent:
    """The event as handlers read it; TypeError if an object field holds something else."""
    for name in OBJECT_FIELDS:
        if name in raw and not isinstance(raw[name], Mapping):
            raise TypeError(f"{name} must be an object")
    return LineEvent(raw)
