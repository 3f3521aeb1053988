"""Turning tickets, messages and member data into plain values for templates and JSON."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import consents
from bot.console.rendering import rendered_message
from bot.models import ConversationMessage, Operator, Shopper, SupportTicket, TicketReason
from bot.support.satisfaction import SatisfactionStats
from flex_templates.html import ImageSource, RenderedHtml, no_images

log = logging.getLogger(__name__)

REASON_LABELS = {
    TicketReason.ASKED_FOR_PERSON: "担当者を希望",
    TicketReason.FAQ_MISS: "FAQで解決せず",
    TicketReason.NEGATIVE_FEEDBACK: "不満の声",
}
STATE_LABELS = {"waiting": "待機中", "claimed": "対応中", "resolved": "終了"}
PRIORITY_LABELS = {2: "高", 1: "中", 0: "通常"}
RESOLUTION_LABELS = {"resolved": "対応完了", "timeout": "無応答で自動終了"}
SENDER_LABELS = {"shopper": "お客様", "bot": "ボット", "staff": "スタッフ"}


def local_time(value: datetime | None, tz: ZoneInfo) -> str:
    """`2024/05/01 14:03` in the shop's time zone ('' for None)."""
    return value.astimezone(tz).strftime("%Y/%m/%d %H:%M") if value else ""


def wait_label(seconds: float) -> str:
    """How long something has waited: 「3分」, 「1時間5分」, 「2日」."""
    minutes = max(0, int(seconds // 60))
    if minutes < 60:
        return f"{minutes}分"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}時間{minutes}分" if minutes else f"{hours}時間"
    return f"{hours // 24}日"


def operator_names(session: Session) -> dict[int, str]:
    """Operator id → name, for labels."""
    return {row.id: row.name for row in session.execute(select(Operator.id, Operator.name))}


def last_messages(session: Session, shopper_ids: list[int]) -> dict[int, ConversationMessage]:
    """The newest message of each shopper (queue previews)."""
    if not shopper_ids:
        return {}
    newest = (
        select(func.max(ConversationMessage.id))
        .where(ConversationMessage.shopper_id.in_(shopper_ids))
        .group_by(ConversationMessage.shopper_id)
    )
    rows = session.scalars(select(ConversationMessage).where(ConversationMessage.id.in_(newest)))
    return {row.shopper_id: row for row in rows}


def ticket_row(
    ticket: SupportTicket,
    now: datetime,
    tz: ZoneInfo,
    names: Mapping[int, str],
    last: ConversationMessage | None,
    score: int | None = None,
) -> dict[str, Any]:
    """One queue row."""
    shopper = ticket.shopper
    waited_from = ticket.created_at if ticket.claimed_at is None else ticket.claimed_at
    return {
        "id": ticket.id,
        "shopper": shopper.display_name or "（名前なし）",
        "member_id": shopper.member_id,
        "state": ticket.state.value,
        "state_label": STATE_LABELS[ticket.state.value],
        "reason": ticket.reason.value,
        "reason_label": REASON_LABELS[ticket.reason],
        "priority": ticket.priority,
        "priority_label": PRIORITY_LABELS.get(ticket.priority, str(ticket.priority)),
        "summary": ticket.summary or "",
        "operator": names.get(ticket.operator_id, "") if ticket.operator_id else "",
        "created_at": local_time(ticket.created_at, tz),
        "wait": wait_label((now - ticket.created_at).total_seconds()),
        "since_claim": wait_label((now - waited_from).total_seconds()),
        "idle": wait_label((now - ticket.last_activity_at).total_seconds()),
        "resolved_at": local_time(ticket.resolved_at, tz),
        "resolution": RESOLUTION_LABELS.get(ticket.resolution or "", ticket.resolution or ""),
        "last_message": (last.text[:80] if last else ""),
        "score": score,
        "url": f"/console/tickets/{ticket.id}",
    }


def message_view(
    message: ConversationMessage,
    tz: ZoneInfo,
    names: Mapping[int, str],
    *,
    image_src: ImageSource = no_images,
) -> dict:
    """One chat bubble; the bot's non-text messages carry their markup as LINE draws them."""
    sender = message.sender.value
    label = SENDER_LABELS.get(sender, sender)
    if sender == "staff" and message.staff_id:
        label = f"スタッフ（{names.get(message.staff_id, '不明')}）"
    view: dict[str, Any] = {
        "id": message.id,
        "sender": sender,
        "sender_label": label,
        "direction": message.direction.value,
        "type": message.message_type,
        "text": message.text,
        "time": local_time(message.created_at, tz),
        "failed": message.status == "failed",
        "error": message.error or "",
        "html": None,
        "quick": "",
        "values": [],
    }
    rendered = rendered_message(message, image_src)
    if rendered is not None:
        body, quick = rendered
        view["html"] = Markup(body) if body else None
        view["quick"] = Markup(quick)
        view["values"] = [name[3:] for name in RenderedHtml(body + quick).value_classes]
    return view


def member_context(session: Session, shopper: Shopper, tz: ZoneInfo) -> dict[str, Any]:
    """Member id, opt-in and what the delivery engine knows: carts, orders, deliveries."""
    context: dict[str, Any] = {
        "member_id": shopper.member_id,
        "linked": shopper.member_id is not None,
        "opt_in": shopper.marketing_opt_in,
        "following": shopper.is_following,
        "available": False,
        "carts": [],
        "orders": [],
        "pending": [],
        "sent": [],
        "reach": [],
        "error": None,
    }
    if shopper.member_id is not None:
        try:  # like the engine's context below: the chat opens whatever this lookup does
            context["reach"] = reach_lines(session, shopper.member_id, tz)
        except Exception:
            log.exception("member reach failed", extra={"shopper": shopper.id})
            session.rollback()
            context["reach"] = [{"label": "メール・SMS", "text": "読み込めませんでした"}]
    try:  # the delivery engine is an optional feature of this console
        from bot.delivery import engine as deliveries
    except ImportError:
        return context
    try:
        context.update(_engine_context(session, shopper, tz, deliveries))
        context["available"] = True
    except Exception:  # the chat must open even if another feature's lookup breaks
        log.exception("member context failed", extra={"shopper": shopper.id})
        session.rollback()
        context["error"] = "カート・注文・配信の情報を読み込めませんでした。"
    return context


def reach_lines(session: Session, member_id: str, tz: ZoneInfo) -> list[dict[str, str]]:
    """E-mail and SMS as staff need them to answer "why do I (not) get mails?": the address
    masked, whether it bounced, and the consent with the day it was given or withdrawn."""
    contact = consents.contact_of(session, member_id)
    known = (
        {"email": (contact.email, contact.email_ok), "sms": (contact.phone, contact.phone_ok)}
        if contact is not None
        else {}
    )
    lines = []
    for channel, label in (("email", "メール"), ("sms", "SMS")):
        address, ok = known.get(channel, (None, False))
        if address is None:
            lines.append({"label": label, "text": "未登録"})
            continue
        record = consents.current_record(session, member_id, channel)
        if not ok:
            state = "届かないため送信停止"
        elif record is None:
            state = "同意なし"
        else:
            day = record.occurred_at.astimezone(tz).strftime("%Y/%m/%d")
            state = f"同意あり（{day}）" if record.granted else f"配信停止（{day}）"
        lines.append({"label": label, "text": f"{_masked(address)}・{state}"})
    return lines


def _masked(address: str) -> str:
    """Enough of an address to recognise it, not to copy it: h*****@example.jp, ****5678."""
    local, at, domain = address.partition("@")
    if at:
        return f"{local[:1]}{'*' * max(1, len(local) - 1)}@{domain}"
    return "*" * max(0, len(address) - 4) + address[-4:]


def _engine_context(session: Session, shopper: Shopper, tz: ZoneInfo, engine: Any) -> dict:
    from bot.models import Cart, CartState, Order

    keys = engine.customer_keys(shopper)
    carts = session.scalars(
        select(Cart)
        .where(Cart.customer_key.in_(keys), Cart.state == CartState.OPEN)
        .order_by(Cart.changed_at.desc())
        .limit(3)
    ).all()
    orders = session.scalars(
        select(Order).where(Order.customer_key.in_(keys)).order_by(Order.updated_at.desc()).limit(5)
    ).all()
    deliveries = engine.member_deliveries(session, shopper)
    return {
        "carts": [
            {
                "changed_at": local_time(cart.changed_at, tz),
                "items": [_item_line(item) for item in (cart.data or {}).get("items", [])][:20],
                "url": str((cart.data or {}).get("url", "")),
            }
            for cart in carts
        ],
        "orders": [
            {
                "order_id": order.order_id,
                "total": yen(order.total),
                "placed_at": local_time(order.placed_at, tz),
                "status": "配達済み"
                if order.delivered_at
                else "発送済み"
                if order.shipped_at
                else "注文受付",
            }
            for order in orders
        ],
        "pending": [_delivery_line(d, tz) for d in deliveries if d.get("state") == "pending"][:5],
        "sent": [_delivery_line(d, tz) for d in deliveries if d.get("state") == "sent"][:5],
    }


def yen(amount: Any) -> str:
    """¥1,980 (or '' when unknown)."""
    return f"¥{int(amount):,}" if isinstance(amount, int | float) else ""


def _item_line(item: Any) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    name = str(item.get("name") or item.get("sku") or "商品")
    quantity = item.get("quantity") or 1
    price = yen(item.get("price"))
    return f"{name} × {quantity}" + (f"（{price}）" if price else "")


def _delivery_line(delivery: Mapping[str, Any], tz: ZoneInfo) -> str:
    when = delivery.get("sent_at") or delivery.get("due_at")
    try:
        stamp = local_time(datetime.fromisoformat(str(when)), tz) if when else ""
    except ValueError:
        stamp = str(when)
    return f"{delivery.get('template', '')}（{delivery.get('scenario', '')}）{stamp}"


def satisfaction_view(stats: SatisfactionStats) -> dict[str, Any]:
    """Survey results for a page: the average to one decimal (「—」 without answers), the count."""
    average = f"{stats.average:.1f}" if stats.average is not None else "—"
    return {"average": average, "count": stats.count}
