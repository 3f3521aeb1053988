"""Marketing consent: 「配信停止」 and 「配信再開」, by postback or typed text."""

from __future__ import annotations

from typing import Any

from bot.core import signals
from bot.line.routing import HandlerContext, text
from bot.shoppers import service as shoppers

OPTED_OUT = (
    "お知らせの配信を停止しました。\n"
    "ご注文やお届けに関する大切なご連絡は引き続きお送りします。"
    "再開したいときは「配信再開」とお送りください。"
)
OPTED_IN = "お知らせの配信を再開しました。お得な情報をお届けします!"


def handle_postback_optout(event: Any, ctx: HandlerContext) -> None:
    """Stop marketing messages for this shopper and confirm."""
    _set(event, ctx, False)
    ctx.reply([text(OPTED_OUT)])


def handle_postback_optin(event: Any, ctx: HandlerContext) -> None:
    """Resume marketing messages for this shopper and confirm."""
    _set(event, ctx, True)
    ctx.reply([text(OPTED_IN)])


def _set(event: Any, ctx: HandlerContext, opt_in: bool) -> None:
    shopper = ctx.require_shopper()
    now = ctx.clock.now()
    shoppers.set_marketing_opt_in(ctx.session, shopper, opt_in, now)
    # The consent history (bot.consents) records what was said, when, and how: a menu button
    # (postback) or the typed words (a text message routed to the same handler).
    signals.marketing_consent_stated.send(
        None,
        session=ctx.session,
        shopper=shopper,
        now=now,
        opt_in=opt_in,
        source="line_text" if getattr(event, "type", None) == "message" else "line_postback",
        at=getattr(event, "occurred_at", None) or now,
        key=ctx.webhook_event_id,
    )
