"""The accountLink event: LINE reports that the shopper finished (or failed) the shop login.

The event carries the nonce but not the link token, so the nonce row records which LINE user
the token was issued for; an event from any other user is refused.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from bot.line.event import LineEvent
from bot.line.gateway import retry_key_for
from bot.line.routing import HandlerContext, text
from bot.linking import service as linking
from bot.linking.handlers import LINK_FAILED, NONCE_REFUSED, linked_text, moved_away_text
from bot.models import LinkNonce, LinkSource
from bot.shoppers.service import find_shopper

log = logging.getLogger(__name__)


def handle_account_link(event: LineEvent, ctx: HandlerContext) -> None:
    """Bind the nonce's member to the LINE user on success; apologise on failure."""
    extra = {"event_id": ctx.webhook_event_id}
    now = ctx.clock.now()
    if event.link.result != "ok":
        log.info("account link failed at LINE", extra=extra)
        _tell_failure(ctx, event.link.nonce)
        return
    shopper = ctx.require_shopper()
    try:
        nonce = linking.consume_nonce(ctx.session, event.link.nonce, shopper.line_user_id, now)
    except linking.LinkError as exc:
        log.warning("account link refused", extra={**extra, "reason": exc.code})
        ctx.reply([text(NONCE_REFUSED)])
        return
    outcome = linking.link_member(
        ctx.session, nonce.member_id, shopper.line_user_id, now, LinkSource.ACCOUNT_LINK
    )
    ctx.reply([text(linked_text(nonce.member_id, outcome.previous_member_id))])
    if outcome.displaced is not None and outcome.displaced.is_following:
        ctx.messenger.push(
            outcome.displaced,
            [text(moved_away_text(nonce.member_id))],
            retry_key=retry_key_for("link-notice", outcome.displaced_history_id),
        )
    log.info("member linked", extra={**extra, "moved": outcome.previous_member_id is not None})


def _tell_failure(ctx: HandlerContext, nonce_value: str) -> None:
    # A failed event has no source: the nonce tells whom to apologise to.
    nonce = ctx.session.scalars(select(LinkNonce).where(LinkNonce.nonce == nonce_value)).first()
    shopper = ctx.shopper or (find_shopper(ctx.session, nonce.line_user_id) if nonce else None)
    if shopper is None or not shopper.is_following:
        return
    if ctx.shopper is None:
        ctx.shopper = shopper
    ctx.reply([text(LINK_FAILED)])
