"""The route table: normalised LINE event keys → handler functions.

Each handler registers itself next to its definition with `@route(...)`; a duplicate key is a
programming error and fails at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.line import LineGateway, Message, SendResult, retry_key_for
from bot.models import ConversationMessage, Shopper
from bot.queues import Queues
from bot.services.faq_store import FaqCache
from bot.services.messaging import Messenger
from bot.settings import Settings
from flex_templates import TemplateRegistry

log = logging.getLogger(__name__)

RouteKey = tuple[str, str | None]
Handler = Callable[[Any, "HandlerContext"], None]

_ROUTES: dict[RouteKey, Handler] = {}

# Sources that are not a one-to-one chat with a shopper.
CHAT_SOURCES = frozenset({"group", "room"})

# Event types that change what the bot knows without answering anyone: handled even in
# standby mode (another channel has chat control and answers the chat). Every other standby
# event is stored and ignored; handlers see `ctx.standby` and never reply.
STANDBY_EVENTS = frozenset({"follow", "unfollow", "unsend", "activated", "deactivated"})

# Events LINE documents that this bot does not act on, and why. They are stored and marked
# ignored (answered 200 like every event); an event type in neither this table nor the routes
# is ignored too, but logged as unknown.
IGNORED_ON_PURPOSE: Mapping[str, str] = {
    "videoPlayComplete": "the bot sends no videos with a trackingId",
    "beacon": "the shop has no LINE Beacon",
    "membership": "the shop sells no LINE memberships",
    "things": "no LINE Things devices",
    "module": "for module channels; this is the shop's own channel",
    "botSuspended": "for module channels; this is the shop's own channel",
    "botResumed": "for module channels; this is the shop's own channel",
    "delivery": "LINE notification messages (PNP) are not used",
}


class DuplicateRoute(Exception):
    """Two handlers claimed the same route."""


def route(event_type: str, *, action: str | None = None, message_type: str | None = None):
    """Register a handler for an event type, a postback action or a message type."""
    if action is not None and message_type is not None:
        raise ValueError("a route names an action or a message type, not both")
    return _register([(event_type, action if action is not None else message_type)])


def chat_route(event_type: str | None = None):
    """Register a handler for events from groups and rooms (one event type, or all)."""
    return _register([(source, event_type) for source in sorted(CHAT_SOURCES)])


def _register(keys: Sequence[RouteKey]):
    def decorator(func: Handler) -> Handler:
        for key in keys:
            if key in _ROUTES:
                raise DuplicateRoute(f"route {key} is already handled by {_ROUTES[key].__name__}")
            if key[0] in IGNORED_ON_PURPOSE:
                raise DuplicateRoute(f"route {key} is listed as ignored on purpose")
            _ROUTES[key] = func
        return func

    return decorator


def postback_action(data: str) -> str | None:
    """The `action` parameter of postback data such as `action=optout&x=1`."""
    values = parse_qs(data, keep_blank_values=True).get("action")
    return values[0] if values else None


def postback_params(data: str) -> dict[str, str]:
    """All postback parameters (first value of each)."""
    return {k: v[0] for k, v in parse_qs(data, keep_blank_values=True).items()}


def route_key(raw: Mapping[str, Any]) -> RouteKey:
    """Normalise a raw webhook event to its route key; never raises on a malformed event
    (parsing it later fails and marks it failed).

    Events from a group or room key on the source (`("group", "message")`): a shop's bot
    answers one-to-one chats only, and one handler keeps that policy for every event type.
    """
    event_type = str(raw.get("type", ""))
    source_type = str(_field(raw, "source").get("type", ""))
    if source_type in CHAT_SOURCES:
        return source_type, event_type
    if event_type == "message":
        return event_type, str(_field(raw, "message").get("type", ""))
    if event_type == "postback":
        return event_type, postback_action(str(_field(raw, "postback").get("data", "")))
    return event_type, None


def _field(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name)
    return value if isinstance(value, Mapping) else {}


def find_handler(key: RouteKey) -> Handler | None:
    """The handler for a key, falling back to the event type's catch-all route."""
    return _ROUTES.get(key) or _ROUTES.get((key[0], None))


def action_handler(action: str) -> Handler | None:
    """The postback handler for an action (used by text commands that mean the same)."""
    return _ROUTES.get(("postback", action))


def routes() -> Mapping[RouteKey, Handler]:
    """A read-only view of the table (for tests and docs)."""
    return dict(_ROUTES)


@dataclass
class HandlerContext:
    """What a handler may use: no globals, so tests can pass fakes."""

    session: Session
    clock: Clock
    settings: Settings
    line: LineGateway
    queues: Queues
    templates: TemplateRegistry
    faq_cache: FaqCache
    webhook_event_id: str
    reply_token: str | None
    shopper: Shopper | None
    standby: bool = False  # another channel has chat control: record, never answer
    # A worker died handling this event before: its reply may have gone out, so a refused
    # reply token is not followed by a push.
    interrupted: bool = False
    # What LINE accepted (or may have) for this event: kept if the handler's work is rolled
    # back, so that a retry knows what the shopper already has.
    sent_log: list[ConversationMessage] = field(default_factory=list)
    _sends: int = field(default=0)

    @property
    def messenger(self) -> Messenger:
        return Messenger(
            self.session,
            self.line,
            self.clock,
            sent_log=self.sent_log,
            maybe_answered=self.interrupted,
        )

    def require_shopper(self) -> Shopper:
        if self.shopper is None:
            raise LookupError("this event has no user source")
        return self.shopper

    def reply(self, messages: Sequence[Message]) -> SendResult:
        """Answer the shopper: reply with the token once, push for anything after."""
        if self.standby:
            raise RuntimeError("an event in standby mode must not be answered")
        self._sends += 1
        token, self.reply_token = self.reply_token, None  # a reply token is single-use
        return self.messenger.reply_or_push(
            self.require_shopper(),
            token,
            messages,
            retry_key=retry_key_for(f"answer{self._sends}", self.webhook_event_id),
            webhook_event_id=self.webhook_event_id,
        )


def text(body: str, quick_replies: Sequence[tuple[str, str]] = ()) -> Message:
    """A LINE text message, with optional (label, postback data) quick replies."""
    message: Message = {"type": "text", "text": body}
    if quick_replies:
        message["quickReply"] = {
            "items": [
                {
                    "type": "action",
                    "action": {
                        "type": "postback",
                        "label": label,
                        "data": data,
                        "displayText": label,
                    },
                }
                for label, data in quick_replies
            ]
        }
    return message
