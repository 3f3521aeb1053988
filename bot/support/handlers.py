"""The one-tap satisfaction survey sent when staff hand a chat back to the bot."""

from __future__ import annotations

import logging

from bot.line.event import LineEvent
from bot.line.messaging import log_inbound
from bot.line.routing import HandlerContext, postback_params, text
from bot.support.satisfaction import CSAT_LABELS, record_satisfaction

log = logging.getLogger(__name__)

THANKS = "ご回答ありがとうございました。今後のサービス向上に役立てます。"
ALREADY = "ご回答ありがとうございます。このお問い合わせへの評価は既にいただいています。"


def handle_postback_csat(event: LineEvent, ctx: HandlerContext) -> None:
    """Store the rating (`action=csat&ticket=<id>&score=1..5`) once and thank the shopper."""
    shopper = ctx.require_shopper()
    params = postback_params(event.postback.data)
    try:
        ticket_id, score = int(params.get("ticket", "")), int(params.get("score", ""))
    except ValueError:
        log.info("malformed survey postback", extra={"event_id": ctx.webhook_event_id})
        return
    now = ctx.clock.now()
    log_inbound(
        ctx.session,
        shopper,
        message_type="postback",
        text=f"満足度アンケート: {score} {CSAT_LABELS.get(score, '')}".strip(),
        now=now,
        payload={"data": event.postback.data},
        webhook_event_id=ctx.webhook_event_id,
    )
    recorded = record_satisfaction(ctx.session, shopper, ticket_id, score, now)
    if not recorded and score not in CSAT_LABELS:
        return
    ctx.reply([text(THANKS if recorded else ALREADY)])
