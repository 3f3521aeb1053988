"""Follow and unfollow: who is listening, and a greeting for new and returning shoppers."""

from __future__ import annotations

import logging

from bot.line.event import LineEvent
from bot.line.gateway import LineError
from bot.line.routing import HandlerContext, text
from bot.shoppers import service as shoppers

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


def handle_follow(event: LineEvent, ctx: HandlerContext) -> None:
    """Record the follow, fetch the profile, greet (returning shoppers get 'welcome back').

    A follow older than an unfollow already applied (LINE redelivered it late) changes
    nothing and is not answered: the shopper has blocked the account since, and a greeting
    for a follow long past would read as a new one.
    """
    now = ctx.clock.now()
    user_id = ctx.require_shopper().line_user_id
    change = shoppers.record_follow(ctx.session, user_id, now, event.occurred_at)
    shopper = ctx.shopper = change.shopper
    if not change.applied:
        log.info("older follow ignored", extra={"shopper_id": shopper.id})
        return
    try:
        shoppers.apply_profile(shopper, ctx.line.get_profile(shopper.line_user_id), now)
    except LineError as exc:
        # A profile is nice to have; the greeting must not wait for it.
        log.warning("profile unavailable", extra={"status": exc.status})
    if ctx.standby:
        return  # another channel has chat control and greets the shopper
    returning = bool(event.follow and event.follow.is_unblocked) or shopper.follow_count > 1
    ctx.reply([text(greeting(shopper.display_name, ctx.settings.shop_name, returning))])


def handle_unfollow(event: LineEvent, ctx: HandlerContext) -> None:
    """Mark the shopper blocked (unless a newer follow was applied already); later deliveries
    check this before sending."""
    change = shoppers.record_unfollow(
        ctx.session, ctx.require_shopper().line_user_id, ctx.clock.now(), event.occurred_at
    )
    ctx.shopper = change.shopper
    if not change.applied:
        log.info("older unfollow ignored", extra={"shopper_id": change.shopper.id})
