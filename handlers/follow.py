"""Follow and unfollow: who is listening, and a greeting for new and returning shoppers."""

from __future__ import annotations

import logging

from linebot.v3.webhooks import FollowEvent, UnfollowEvent

from bot.line import LineError
from bot.services import shoppers
from handlers.registry import HandlerContext, route, text

log = logging.getLogger(__name__)


def greeting(name: str | None, shop_name: str, returning: bool) -> str:
    """The Japanese greeting for a first follow or a return after blocking."""
    who = f"{name}さん、" if name else ""
    if returning:
        return (
            f"{who}おかえりなさい!{shop_name}です。\n"
            "また友だち追加していただきありがとうございます。"
            "ご質問はこのトークにいつでもお送りください。"
        )
    return (
        f"{who}はじめまして、{shop_name}です。友だち追加ありがとうございます!\n"
        "ご注文やお届けについてのご質問は、このトークにお気軽にお送りください。\n"
        "「会員連携」と送っていただくと、ショップの会員情報とLINEをつなげられます。"
    )


@route("follow")
def handle_follow(event: FollowEvent, ctx: HandlerContext) -> None:
    """Record the follow, fetch the profile, greet (returning shoppers get 'welcome back')."""
    now = ctx.clock.now()
    shopper = shoppers.record_follow(ctx.session, event.source.user_id, now)
    ctx.shopper = shopper
    try:
        shoppers.apply_profile(shopper, ctx.line.get_profile(shopper.line_user_id), now)
    except LineError as exc:
        # A profile is nice to have; the greeting must not wait for it.
        log.warning("profile unavailable", extra={"status": exc.status})
    returning = bool(event.follow and event.follow.is_unblocked) or shopper.follow_count > 1
    ctx.reply([text(greeting(shopper.display_name, ctx.settings.shop_name, returning))])


@route("unfollow")
def handle_unfollow(event: UnfollowEvent, ctx: HandlerContext) -> None:
    """Mark the shopper blocked; later deliveries check this before sending."""
    ctx.shopper = shoppers.record_unfollow(ctx.session, event.source.user_id, ctx.clock.now())
