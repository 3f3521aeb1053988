"""Account linking (ID連携); the linking issue fills in the flow."""

from __future__ import annotations

import logging

from linebot.v3.webhooks import AccountLinkEvent

from handlers.registry import HandlerContext, route

log = logging.getLogger(__name__)


@route("accountLink")
def handle_account_link(event: AccountLinkEvent, ctx: HandlerContext) -> None:
    """Placeholder route: the event is stored and logged until linking is built."""
    log.info("accountLink received", extra={"event_id": ctx.webhook_event_id})
