"""Groups and rooms: a shop's bot talks one-to-one only, so it says so once and leaves.

Nothing from a group or room creates a shopper, issues a link token or sends personal data:
whatever a member writes there, everyone in the chat would see the answer.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.line import chats
from bot.line.event import LineEvent
from bot.line.gateway import LineClientError, LineError
from bot.line.routing import HandlerContext, text

log = logging.getLogger(__name__)

ONE_TO_ONE_ONLY = (
    "{shop}の公式アカウントです。グループやトークルームでのご案内は行っておりません。\n"
    "ご注文やお届けについてのお問い合わせは、お手数ですが{shop}と"
    "1対1のトークでお送りください。このトークからは退出いたします。"
)
# Events that tell nothing about the bot being wanted there: it leaves without a word (no
# reply token comes with them, and a push into a group would cost a message of the quota).
SILENT = frozenset({"memberLeft", "unsend"})


def handle_left_chat(event: LineEvent, ctx: HandlerContext) -> None:
    """The bot left, or was removed from, a group or room: note it."""
    chat_id = event.chat_id
    if chat_id:
        chats.record_left(ctx.session, chat_id, event.source_type, ctx.clock.now())


def handle_chat_event(event: LineEvent, ctx: HandlerContext) -> None:
    """Any other group or room event: say once that the bot talks one-to-one only, leave."""
    chat_id, kind = event.chat_id, event.source_type
    if not chat_id:
        log.info("group or room event without its id", extra={"event_id": ctx.webhook_event_id})
        return
    now = ctx.clock.now()
    speak = event.type not in SILENT and ctx.reply_token is not None
    if speak:
        speak = chats.claim_group_notice(
            ctx.session, chat_id, kind, event.occurred_at, now, invited=event.type == "join"
        )
        ctx.session.commit()  # claimed for good: a retry or a concurrent event stays quiet
    if speak and ctx.reply_token:
        try:
            ctx.line.reply(
                ctx.reply_token, [text(ONE_TO_ONE_ONLY.format(shop=ctx.settings.shop_name))]
            )
        except LineError as exc:
            # The notice is a courtesy and claimed already (a retry would not say it): leaving
            # is what matters, so a refused or failed notice does not hold the leave up.
            log.info("group notice not sent", extra={"status": exc.status})
    _leave(ctx, chat_id, kind)
    chats.record_left(ctx.session, chat_id, kind, now)
    log.info("left group or room", extra={"event_id": ctx.webhook_event_id, "kind": kind})


def _leave(ctx: HandlerContext, chat_id: str, kind: str) -> None:
    try:
        if kind == "group":
            ctx.line.leave_group(chat_id)
        else:
            ctx.line.leave_room(chat_id)
    except LineClientError as exc:
        # 400/404: the bot is not in that chat (any more); nothing left to do.
        log.info("leave refused", extra={"status": exc.status})


def handle_activated(event: LineEvent, ctx: HandlerContext) -> None:
    """This channel got chat control of the shopper's chat (until `chatControl.expireAt`)."""
    expire = event.chat_control.expire_at if event.chat_control else None
    expires_at = datetime.fromtimestamp(expire / 1000, UTC) if isinstance(expire, int) else None
    _switch(event, ctx, active=True, expires_at=expires_at)


def handle_deactivated(event: LineEvent, ctx: HandlerContext) -> None:
    """Another channel took chat control: this chat's events come in standby mode now."""
    _switch(event, ctx, active=False, expires_at=None)


def _switch(
    event: LineEvent, ctx: HandlerContext, *, active: bool, expires_at: datetime | None
) -> None:
    applied = chats.set_chat_control(
        ctx.session,
        ctx.require_shopper().line_user_id,
        active=active,
        at=event.occurred_at,
        expires_at=expires_at,
        now=ctx.clock.now(),
    )
    log.info(
        "chat control switched" if applied else "older chat control switch ignored",
        extra={"event_id": ctx.webhook_event_id, "active": active},
    )
