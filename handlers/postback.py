"""Postbacks with no registered action: logged and ignored."""

from __future__ import annotations

import logging

from bot.line.event import LineEvent
from bot.line.routing import HandlerContext, postback_action

log = logging.getLogger(__name__)


def handle_unknown_postback(event: LineEvent, ctx: HandlerContext) -> None:
    """An action this version does not know (e.g. an old rich menu): ignore it."""
    data = event.postback.data if event.postback else ""
    log.info(
        "unknown postback action",
        extra={"action": postback_action(str(data)), "event_id": ctx.webhook_event_id},
    )
