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


class DuplicateRoute(Exception):
    """Two handlers claimed the same route."""


def route(event_type: str, *, action: str | None = None, message_type: str | None = None):
    """Register a handler for an event type, a postback action or a message type."""
    if action is not None and message_type is not None:
        raise ValueError("a route names an action or a message type, not both")
    key: RouteKey = (event_type, action if action is not None else message_type)

    def decorator(func: Handler) -> Handler:
        if key in _ROUTES:
            raise DuplicateRoute(f"route {key} is already handled by {_ROUTES[key].__name__}")
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
    (parsing it later fails and marks it failed)."""
    event_type = str(raw.get("type", ""))
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
    # What LINE accepted (or may have) for this event: kept if the handler's work is rolled
    # back, so that a retry knows what the shopper already has.
    sent_log: list[ConversationMessage] = field(default_factory=list)
    _sends: int = field(default=0)

    @property
    def messenger(self) -> Messenger:
        return Messenger(self.session, self.line, self.clock, sent_log=self.sent_log)

    def require_shopper(self) -> Shopper:
        if self.shopper is None:
            raise LookupError("this event has no user source")
        return self.shopper

    def reply(self, messages: Sequence[Message]) -> SendResult:
        """Answer the shopper: reply with the token once, push for anything after."""
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
