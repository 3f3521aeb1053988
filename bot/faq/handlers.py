"""FAQ auto-reply: questions, 「もしかして」 picks, 「解決しましたか?」 and 「担当者と話す」."""

from __future__ import annotations

import logging
from typing import Any

from bot.faq import conversation as faq_bot
from bot.faq import store as faq_store
from bot.faq.conversation import Escalation, TextTurn
from bot.faq.file_format import FaqEntry
from bot.line.gateway import Message
from bot.line.messaging import log_inbound
from bot.line.routing import HandlerContext, postback_params, text
from bot.models import Shopper, TicketReason
from bot.support import escalation as support
from bot.support.hours import describe_opening
from flex_templates import TemplateDataError, TemplateError

log = logging.getLogger(__name__)

PERSON_LABEL = "担当者と話す"
PERSON_AFTER_MISS = "action=human&reason=faq_miss"
LOADING_SECONDS = 5

NO_MATCH = (
    "申し訳ありません。そのご質問にお答えできる情報が見つかりませんでした。\n"
    "言葉を変えてもう一度お送りいただくか、担当者にお問い合わせください。"
)
NO_MATCH_AGAIN = (
    "続けてお答えできず、申し訳ありません。\n"
    "担当者が直接お答えしますので、よろしければ下の「担当者と話す」をタップしてください。"
)
RESOLVED_THANKS = "ご確認ありがとうございます。ほかにもご質問があれば、お気軽にお送りください。"
ALREADY_WITH_STAFF = (
    "すでに担当者におつなぎしています。順番にご返信いたしますので、このままお待ちください。"
)
ENTRY_GONE = (
    "申し訳ありません。そのご質問の回答は現在ご案内できません。"
    "お手数ですが、もう一度ご質問をお送りください。"
)
# The postback reasons a 「担当者と話す」 button may carry; anything else means asked_for_person.
POSTBACK_REASONS = {"faq_miss": TicketReason.FAQ_MISS}


def answer_question(event: Any, ctx: HandlerContext, body: str) -> None:
    """Answer a shopper's free text from the FAQ (called by handle_text for non-commands)."""
    shopper = ctx.require_shopper()
    cache = ctx.services.faq_cache
    if not support.is_with_staff(ctx.session, shopper) and cache.is_stale(ctx.session):
        # Only a (re)build of the matcher takes long enough to be noticed; a warm match is
        # instant and an animation would just cost the shopper an extra round trip.
        _show_loading(ctx, shopper)
    turn = faq_bot.answer_text(
        ctx.session,
        shopper,
        body,
        cache.matcher(ctx.session),
        ctx.clock.now(),
        ctx.settings,
        webhook_event_id=ctx.webhook_event_id,
    )
    log.info(
        "faq turn",
        extra={
            "event_id": ctx.webhook_event_id,
            "outcome": turn.kind,
            "faq_id": turn.entry.id if turn.entry else None,
        },
    )
    if turn.kind == "silent":
        return  # a person owns the chat: the text is in the log for them
    ctx.reply(quoting(turn_messages(turn, shopper, ctx), event))


def quoting(messages: list[Message], event: Any) -> list[Message]:
    """The messages with the first one quoting the shopper's question, if it is a text.

    「そのご質問にお答えできる情報が見つかりませんでした」 reads best with the question shown
    above it; a Flex answer cannot quote (LINE takes quoteToken on text and stickers only).
    """
    token = event.message.quote_token if event.message else None
    if not messages or messages[0].get("type") != "text" or not isinstance(token, str):
        return messages
    return [{**messages[0], "quoteToken": token}, *messages[1:]]


def handle_postback_faq_pick(event: Any, ctx: HandlerContext) -> None:
    """The shopper chose a 「もしかして」 candidate: send that entry's answer."""
    shopper = ctx.require_shopper()
    faq_id = postback_params(event.postback.data).get("faq_id", "")
    entry = faq_store.get_entry(ctx.session, faq_id) if faq_id else None
    _log_tap(ctx, shopper, f"[もしかして] {entry.question if entry else faq_id}")
    if support.is_with_staff(ctx.session, shopper):
        return
    if entry is None:
        log.info("picked FAQ entry no longer exists", extra={"faq_id": faq_id})
        ctx.reply([text(ENTRY_GONE)])
        return
    faq_bot.pick(
        ctx.session, shopper, entry, ctx.clock.now(), webhook_event_id=ctx.webhook_event_id
    )
    ctx.reply([answer_message(entry, ctx)])


def handle_postback_faq_feedback(event: Any, ctx: HandlerContext) -> None:
    """「解決しましたか?」: 「はい」 is thanked, 「いいえ(担当者と話す)」 goes to a person."""
    shopper = ctx.require_shopper()
    params = postback_params(event.postback.data)
    faq_id, resolved = params.get("faq_id", ""), params.get("resolved")
    if not faq_id or resolved not in ("0", "1"):
        log.warning("malformed faq_feedback postback", extra={"event_id": ctx.webhook_event_id})
        return
    _log_tap(ctx, shopper, "[解決しましたか?] " + ("はい" if resolved == "1" else "いいえ"))
    with_staff = support.is_with_staff(ctx.session, shopper)
    entry = faq_store.get_entry(ctx.session, faq_id)
    escalation = faq_bot.feedback(
        ctx.session,
        shopper,
        faq_id,
        resolved == "1",
        ctx.clock.now(),
        ctx.settings,
        question=entry.question if entry else None,
    )
    if escalation is not None:
        ctx.reply(escalation_messages(escalation, shopper, ctx))
    elif not with_staff:
        ctx.reply([text(RESOLVED_THANKS)])


def handle_postback_human(event: Any, ctx: HandlerContext) -> None:
    """「担当者と話す」: open a ticket (or keep the open one) and say when staff will reply."""
    shopper = ctx.require_shopper()
    reason_key = postback_params(event.postback.data).get("reason", "")
    reason = POSTBACK_REASONS.get(reason_key, TicketReason.ASKED_FOR_PERSON)
    _log_tap(ctx, shopper, f"[{PERSON_LABEL}]")
    escalation = faq_bot.request_person(ctx.session, shopper, reason, ctx.clock.now(), ctx.settings)
    ctx.reply(escalation_messages(escalation, shopper, ctx))


# --------------------------------------------------------------------------- messages


def turn_messages(turn: TextTurn, shopper: Shopper, ctx: HandlerContext) -> list[Message]:
    """The LINE messages for a decided turn."""
    if turn.kind == "answer" and turn.entry is not None:
        return [answer_message(turn.entry, ctx)]
    if turn.kind == "suggest":
        return [candidates_message(turn.candidates, ctx)]
    if turn.kind == "human" and turn.escalation is not None:
        return escalation_messages(turn.escalation, shopper, ctx)
    body = NO_MATCH_AGAIN if turn.offer_person else NO_MATCH
    return [text(body, quick_replies=[(PERSON_LABEL, PERSON_AFTER_MISS)])]


def answer_message(entry: FaqEntry, ctx: HandlerContext) -> Message:
    """The answer with 「解決しましたか?」 buttons (a plain text if the template is unusable)."""
    data = {"faq_id": entry.id, "question": entry.question, "answer": entry.answer}
    try:
        return ctx.templates.render("faq_answer", data)
    except (TemplateError, TemplateDataError) as exc:
        log.error("faq_answer template failed, sending text", extra={"error": str(exc)})
        return text(
            entry.answer,
            quick_replies=[
                ("解決しました", f"action=faq_feedback&faq_id={entry.id}&resolved=1"),
                ("担当者と話す", f"action=faq_feedback&faq_id={entry.id}&resolved=0"),
            ],
        )


def candidates_message(candidates: tuple[FaqEntry, ...], ctx: HandlerContext) -> Message:
    """「もしかして」 with the candidates as buttons and quick replies, plus 「担当者と話す」."""
    data = {"candidates": [{"faq_id": c.id, "question": c.question} for c in candidates]}
    person = {
        "type": "action",
        "action": {
            "type": "postback",
            "label": PERSON_LABEL,
            "data": PERSON_AFTER_MISS,
            "displayText": PERSON_LABEL,
        },
    }
    try:
        message = ctx.templates.render("faq_candidates", data)
    except (TemplateError, TemplateDataError) as exc:
        log.error("faq_candidates template failed, sending text", extra={"error": str(exc)})
        message = text(
            "もしかして、こちらのご質問でしょうか?",
            quick_replies=[(c.question[:20], f"action=faq_pick&faq_id={c.id}") for c in candidates],
        )
    message.setdefault("quickReply", {"items": []})["items"].append(person)
    return message


def escalation_messages(
    escalation: Escalation, shopper: Shopper, ctx: HandlerContext
) -> list[Message]:
    """Tell the shopper a person will reply: the expected wait, or the next opening."""
    if not escalation.created:
        return [text(ALREADY_WITH_STAFF)]
    settings = ctx.settings
    common = {"shopper_name": shopper.display_name, "shop_name": settings.shop_name}
    wait = f"担当者が順番に対応いたします。目安: {escalation.expected}"
    if escalation.open_now:
        try:
            handed = ctx.templates.render("escalation_handed", common)
        except (TemplateError, TemplateDataError) as exc:
            log.error("escalation_handed template failed", extra={"error": str(exc)})
            return [text(f"担当者におつなぎしました。{wait}")]
        # The layout has no place for the expected wait, so it follows as a short text.
        return [handed, text(wait)]
    data = {
        **common,
        "reply_at": escalation.reply_at,
        "business_hours": escalation.hours_text,
    }
    try:
        return [ctx.templates.render("escalation_off_hours", data)]
    except (TemplateError, TemplateDataError) as exc:
        log.error("escalation_off_hours template failed", extra={"error": str(exc)})
        opening = describe_opening(escalation.reply_at, settings.tz, ctx.clock.now())
        return [
            text(
                "ただいま営業時間外です。"
                f"{opening}以降に担当者より順次ご返信します。\n"
                f"営業時間: {escalation.hours_text}"
            )
        ]


# --------------------------------------------------------------------------- helpers


def _show_loading(ctx: HandlerContext, shopper: Shopper) -> None:
    try:
        ctx.line.show_loading(shopper.line_user_id, LOADING_SECONDS)
    except Exception as exc:  # noqa: BLE001 - a missing animation must never cost the answer
        log.warning("loading animation failed", extra={"error": type(exc).__name__})


def _log_tap(ctx: HandlerContext, shopper: Shopper, label: str) -> None:
    log_inbound(
        ctx.session,
        shopper,
        message_type="postback",
        text=label,
        now=ctx.clock.now(),
        webhook_event_id=ctx.webhook_event_id,
    )
