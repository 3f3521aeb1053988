"""Messages from shoppers: logged, then answered by command or by the FAQ."""

from __future__ import annotations

import logging
import unicodedata

from bot.delivery import staff_recipients
from bot.faq.handlers import answer_question
from bot.line.event import LineEvent
from bot.line.messaging import log_inbound
from bot.line.routing import HandlerContext
from bot.shoppers.unsend import withdraw_message

log = logging.getLogger(__name__)

# Words a shopper may type instead of tapping a menu button; each maps to a postback action.
TEXT_COMMANDS = {
    "会員連携": "link",
    "連携解除": "unlink",
    "配信停止": "optout",
    "配信再開": "optin",
}


def command_for(text: str) -> str | None:
    """The postback action a typed command stands for (width and spacing ignored)."""
    normalised = unicodedata.normalize("NFKC", text).strip().replace(" ", "")
    return TEXT_COMMANDS.get(normalised)


def handle_text(event: LineEvent, ctx: HandlerContext) -> None:
    """Log the text; a staff registration code registers a test recipient; run a command if
    it is one, otherwise leave it to the FAQ."""
    shopper = ctx.require_shopper()
    body = event.message.text
    if not isinstance(body, str):
        raise TypeError("a text message without a text")
    code = staff_recipients.code_from_message(body)
    log_inbound(
        ctx.session,
        shopper,
        message_type="text",
        # A code is a secret until used: the conversation log (and the console) never shows it.
        text=staff_recipients.LOGGED_TEXT if code else body,
        now=ctx.clock.now(),
        webhook_event_id=ctx.webhook_event_id,
    )
    if code is not None:
        staff_recipients.handle_code_message(ctx, code)
        return
    action = command_for(body)
    handler = ctx.router.action_handler(action) if action else None
    if handler is not None:
        handler(event, ctx)
    else:
        answer_question(event, ctx, body)


def handle_other_message(event: LineEvent, ctx: HandlerContext) -> None:
    """Stickers, images and the like: kept in the log so staff see them."""
    kind = str((event.message and event.message.type) or "unknown")[:32]
    log_inbound(
        ctx.session,
        ctx.require_shopper(),
        message_type=kind,
        text=f"[{kind}]",
        now=ctx.clock.now(),
        webhook_event_id=ctx.webhook_event_id,
    )


def handle_unsend(event: LineEvent, ctx: HandlerContext) -> None:
    """The shopper took a message back: its text is removed from the log and the console."""
    message_id = event.unsend.message_id if event.unsend else None
    if not isinstance(message_id, str):
        raise TypeError("unsend without a messageId")
    count = withdraw_message(ctx.session, ctx.require_shopper(), message_id, ctx.clock.now())
    log.info("message unsent", extra={"event_id": ctx.webhook_event_id, "found": count})
