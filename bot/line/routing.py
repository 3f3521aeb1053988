"""Routing: normalised LINE event keys → handler functions, and what a handler is given.

The table itself is `handlers.ROUTES`; `bot.app.create_app` builds the app's `Router` from it.
A key routed twice, or an event type both routed and ignored on purpose, stops start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from sqlalchemy.orm import Session

from bot.core.clock import Clock
from bot.core.queues import Queues
from bot.core.settings import Settings
from bot.line.gateway import LineGateway, Message, SendResult, retry_key_for
from bot.line.messaging import Messenger
from bot.models import ConversationMessage, Shopper
from flex_templates import TemplateRegistry

if TYPE_CHECKING:
    from bot.core.services import Services

log = logging.getLogger(__name__)

RouteKey = tuple[str, str | None]
Handler = Callable[[Any, "HandlerContext"], None]
# Hooks a feature gives the router (see `handlers.build_router`).
ShopperFor = Callable[[Session, str, Any], Shopper]
ActivityHook = Callable[[Session, Shopper, Any], None]

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


def event_route(event_type: str, detail: str | None = None) -> RouteKey:
    """The key of an event type, narrowed by a postback action or a message type."""
    return event_type, detail


def chat_routes(event_type: str | None = None) -> list[RouteKey]:
    """The keys of events from groups and rooms (one event type, or all of them)."""
    return [(source, event_type) for source in sorted(CHAT_SOURCES)]


# A reply whose outcome is unknown is tried again once, a second later, with the same token,
# inside the same attempt: settled while the token is young, instead of after a retry that
# Redis may lose or that a dead worker delays past the token's minute.
REPLY_SETTLE_WAITS = (1.0,)


@dataclass(frozen=True)
class Router:
    """The app's route table, with the shopper hooks the dispatcher calls.

    `shopper_for` finds or creates the shopper of a one-to-one event; `on_activity` runs after
    a shopper's message or postback (support keeps an open chat alive with it).
    """

    table: Mapping[RouteKey, Handler]
    shopper_for: ShopperFor
    on_activity: ActivityHook

    @classmethod
    def build(
        cls,
        routes: Iterable[tuple[Sequence[RouteKey], Handler]],
        *,
        shopper_for: ShopperFor,
        on_activity: ActivityHook,
    ) -> Router:
        table: dict[RouteKey, Handler] = {}
        for keys, handler in routes:
            for key in keys:
                if key in table:
                    raise DuplicateRoute(f"route {key} is already handled by {table[key].__name__}")
                if key[0] in IGNORED_ON_PURPOSE:
                    raise DuplicateRoute(f"route {key} is listed as ignored on purpose")
                table[key] = handler
        return cls(table, shopper_for, on_activity)

    def find(self, key: RouteKey) -> Handler | None:
        """The handler for a key, falling back to the event type's catch-all route."""
        return self.table.get(key) or self.table.get((key[0], None))

    def action_handler(self, action: str) -> Handler | None:
        """The postback handler for an action (used by text commands that mean the same)."""
        return self.table.get(("postback", action))


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


@dataclass
class HandlerContext:
    """What a handler may use: no globals, so tests can pass fakes."""

    session: Session
    clock: Clock
    settings: Settings
    line: LineGateway
    queues: Queues
    templates: TemplateRegistry
    router: Router
    services: Services
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
            settle_waits=REPLY_SETTLE_WAITS,
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
