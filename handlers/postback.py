"""Postbacks with no registered action: logged and ignored."""

from __future__ import annotations

import logging

from linebot.v3.webhooks import PostbackEvent

from handlers.registry import HandlerContext, postback_action, route

log = logging.getLogger(__name__)


@route("postback")
def handle_unknown_postback(event: PostbackEvent, ctx: HandlerContext) -> None:
    """An action this version does not know (e.g. an old rich menu): ignore it."""
    log.info(
        "unknown postback action",
        extra={"action": postback_action(event.postback.data), "event_id": ctx.webhook_event_id},
    )
