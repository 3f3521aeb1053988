"""Marketing consent: 「配信停止」 and 「配信再開」, by postback or typed text."""

from __future__ import annotations

from typing import Any

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
    shoppers.set_marketing_opt_in(ctx.session, ctx.require_shopper(), False, ctx.clock.now())
    ctx.reply([text(OPTED_OUT)])


def handle_postback_optin(event: Any, ctx: HandlerContext) -> None:
    """Resume marketing messages for this shopper and confirm."""
    shoppers.set_marketing_opt_in(ctx.session, ctx.require_shopper(), True, ctx.clock.now())
    ctx.reply([text(OPTED_IN)])
