"""Test delivery to staff: any scenario step or template, rendered with its sample data or a
member's real data, marked 【テスト配信】 and pushed to the staff's own LINE accounts.

A test send is outside the engine on purpose: no Flow or Delivery row (so no report, daily cap
or conversion ever sees it), links stay plain (no tracking token carries a delivery or shopper
id), and the only record is `StaffSend`, the audit of who sent what to whom. Every push carries
a retry key made of the send's key and the recipient, so a double click or a repeated request
reaches nobody twice.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.settings import Settings
from bot.delivery import render
from bot.delivery.engine import customer_keys
from bot.delivery.scenarios import ScenarioBook, Step
from bot.delivery.staff_recipients import Recipient
from bot.line.gateway import (
    LineClientError,
    LineError,
    LineGateway,
    LineMonthlyLimit,
    LineRateLimited,
    LineTimeout,
    Message,
    retry_key_for,
)
from bot.models import (
    Cart,
    CartState,
    Delivery,
    Flow,
    Order,
    ProductStock,
    Shopper,
    StaffRecipient,
    StaffSend,
)
from line_messages.validation import ALT_TEXT_MAX, TEXT_MAX, validate_messages

if TYPE_CHECKING:
    from flex_templates import TemplateRegistry

log = logging.getLogger(__name__)

TEST_MARK = "【テスト配信】"
# The data a template takes decides where a member's real data comes from.
CART_TEMPLATES = frozenset({"cart_reminder", "cart_incentive", "cart_low_stock"})
ORDER_TEMPLATES = frozenset(
    {"purchase_thanks", "shipping_notice", "review_request", "repeat_offer"}
)
ITEM_TEMPLATES = frozenset({"restock_notice"})
_MARK_TEXT = {
    "type": "text",
    "text": TEST_MARK,
    "size": "xs",
    "weight": "bold",
    "color": "#D32F2F",
}


class StaffSendError(ValueError):
    """A test send that cannot be made; the message is Japanese, for the console and CLI."""


@dataclass(frozen=True)
class Choice:
    """What to send: a scenario step (and A/B variant) or a template (and layout variant)."""

    template: str
    template_variant: str | None = None
    marketing: bool = False
    scenario_id: str | None = None
    step: Step | None = None
    step_variant: str | None = None

    @property
    def label(self) -> str:
        """How the console and the CLI name it."""
        if self.step is not None:
            arm = f"@{self.step_variant}" if self.step_variant else ""
            return f"{self.scenario_id}/{self.step.id}{arm}"
        layout = f"@{self.template_variant}" if self.template_variant else ""
        return f"テンプレート {self.template}{layout}"


@dataclass(frozen=True)
class SendReport:
    """What happened for one recipient: sent, duplicate (already sent by this key) or failed."""

    recipient: Recipient
    state: str
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    """The result of one test send, for every recipient."""

    choice: Choice
    reports: list[SendReport] = field(default_factory=list)

    @property
    def sent(self) -> list[SendReport]:
        return [r for r in self.reports if r.state in ("sent", "duplicate")]

    @property
    def failed(self) -> list[SendReport]:
        return [r for r in self.reports if r.state == "failed"]


# -- what to send ---------------------------------------------------------------------------


def step_choice(
    book: ScenarioBook,
    templates: TemplateRegistry,
    scenario_id: str,
    step_id: str,
    variant: str | None = None,
) -> Choice:
    """A scenario step (its A/B arm `variant`, or its first arm when it has any)."""
    scenario = book.get(scenario_id)
    if scenario is None:
        raise StaffSendError(f"シナリオ「{scenario_id}」はありません。")
    try:
        step = scenario.step(step_id)
    except KeyError:
        raise StaffSendError(
            f"シナリオ「{scenario_id}」にステップ「{step_id}」はありません。"
        ) from None
    arm = None
    if variant:
        arm = next((v for v in step.variants if v.name == variant), None)
        if arm is None:
            raise StaffSendError(f"ステップ「{step_id}」にパターン「{variant}」はありません。")
    elif step.variants:
        arm = step.variants[0]
    template = (arm.template if arm and arm.template else None) or step.template
    return Choice(
        template=template,
        template_variant=arm.template_variant if arm else None,
        marketing=step.marketing or _is_marketing(templates, template),
        scenario_id=scenario.id,
        step=step,
        step_variant=arm.name if arm else None,
    )


def template_choice(templates: TemplateRegistry, name: str, variant: str | None = None) -> Choice:
    """A template by name (and layout variant)."""
    if name not in templates.names() or (variant and variant not in templates.variants(name)):
        what = f"{name}@{variant}" if variant else name
        raise StaffSendError(f"テンプレート「{what}」はありません。")
    return Choice(template=name, template_variant=variant, marketing=_is_marketing(templates, name))


def _is_marketing(templates: TemplateRegistry, name: str) -> bool:
    try:
        return templates.is_marketing(name)
    except Exception:  # an override without a spec: the render says what is wrong
        return False


def options(book: ScenarioBook, templates: TemplateRegistry) -> list[tuple[str, str]]:
    """Everything the console offers to send, as (form value, label): every step and A/B arm
    of every scenario, then every template and layout variant."""
    found: list[tuple[str, str]] = []
    for scenario in book.scenarios:
        for step in scenario.steps:
            base = f"step:{scenario.id}/{step.id}"
            label = f"{scenario.title} / {step.id}（{step.template}）"
            if not step.variants:
                found.append((base, label))
            for arm in step.variants:
                found.append((f"{base}@{arm.name}", f"{label} パターン {arm.name}"))
    for name in templates.names():
        found.append((f"template:{name}", f"テンプレート {name}"))
        for variant in templates.variants(name):
            found.append((f"template:{name}@{variant}", f"テンプレート {name}@{variant}"))
    return found


def parse_option(value: str, book: ScenarioBook, templates: TemplateRegistry) -> Choice:
    """The choice a form value of `options` names; StaffSendError if it names nothing."""
    kind, _, rest = value.partition(":")
    target, _, variant = rest.partition("@")
    if kind == "step" and "/" in target:
        scenario_id, _, step_id = target.partition("/")
        return step_choice(book, templates, scenario_id, step_id, variant or None)
    if kind == "template" and target:
        return template_choice(templates, target, variant or None)
    raise StaffSendError("送るステップかテンプレートを選んでください。")


# -- the data ------------------------------------------------------------------------------


def _step_for(choice: Choice) -> Step:
    if choice.step is not None:
        return choice.step
    return Step(
        id="staff_test",
        index=0,
        delay=timedelta(0),
        template=choice.template,
        marketing=choice.marketing,
        expires_after=timedelta(0),
    )


def sample_data(templates: TemplateRegistry, choice: Choice, settings: Settings) -> dict[str, Any]:
    """The template's sample data, with the shop's name and contact page, and what the step
    and its A/B arm add (a coupon, an incentive) as a real send would have it."""
    try:
        data = templates.sample(choice.template)
    except Exception as exc:
        raise StaffSendError(
            f"テンプレート「{choice.template}」の見本データがありません。"
        ) from exc
    if "shop_name" in data:
        data["shop_name"] = settings.shop_name
    if "help_url" in data:
        data["help_url"] = settings.help_url
    data.update(render.step_data(_step_for(choice), choice.step_variant))
    return data


def member_data(
    session: Session,
    templates: TemplateRegistry,
    choice: Choice,
    member_id: str,
    settings: Settings,
) -> dict[str, Any]:
    """The data a real send would take for this member: their newest cart (cart templates),
    newest order (order templates) or an item of their newest cart (restock), rendered by the
    engine's own `render.template_data`; other templates take the sample with the member's
    name. Nothing is written: the Flow and Delivery passed along are never added."""
    shopper = session.scalar(select(Shopper).where(Shopper.member_id == member_id.strip()))
    if shopper is None:
        raise StaffSendError(f"会員ID「{member_id}」のLINE連携済みの会員が見つかりません。")
    keys = customer_keys(shopper)
    carts: dict[str, Cart] = {}
    orders: dict[str, Order] = {}
    stock: dict[str, int] = {}
    if choice.template in CART_TEMPLATES | ITEM_TEMPLATES:
        cart = _newest_cart(session, keys)
        if cart is None:
            raise StaffSendError(f"会員「{member_id}」のカート情報がありません。")
        if choice.template in ITEM_TEMPLATES:
            context: dict[str, Any] = {"item": _restock_item(cart, member_id)}
        else:
            carts[cart.cart_id] = cart
            context = {"cart_id": cart.cart_id}
            skus = [str(s) for s in cart.skus or []]
            if skus:
                rows = session.scalars(select(ProductStock).where(ProductStock.sku.in_(skus)))
                stock = {row.sku: row.stock for row in rows}
    elif choice.template in ORDER_TEMPLATES:
        order = session.scalar(
            select(Order)
            .where(Order.customer_key.in_(keys))
            .order_by(Order.placed_at.desc().nulls_last(), Order.id.desc())
            .limit(1)
        )
        if order is None:
            raise StaffSendError(f"会員「{member_id}」の注文情報がありません。")
        orders[order.order_id] = order
        context = {"order_id": order.order_id}
    else:
        data = sample_data(templates, choice, settings)
        data["shopper_name"] = shopper.display_name or "お客様"
        return data
    step = _step_for(choice)
    delivery = Delivery(variant=choice.step_variant, template=choice.template)
    flow = Flow(context=context)
    return render.template_data(
        delivery, flow, step, shopper, settings, carts=carts, orders=orders, stock=stock
    )


def _newest_cart(session: Session, keys: Sequence[str]) -> Cart | None:
    """The member's open cart changed last, else their newest cart of any state."""
    newest = select(Cart).where(Cart.customer_key.in_(keys)).order_by(Cart.changed_at.desc())
    return session.scalar(newest.where(Cart.state == CartState.OPEN).limit(1)) or session.scalar(
        newest.limit(1)
    )


def _restock_item(cart: Cart, member_id: str) -> dict[str, Any]:
    items = list(cart.data.get("items") or [])
    if not items:
        raise StaffSendError(f"会員「{member_id}」のカートに商品がありません。")
    item = items[0]
    return {
        "name": item.get("name"),
        "price": item.get("price"),
        "url": item.get("product_url") or item.get("url"),
        "image_url": item.get("image_url"),
    }


# -- the message ---------------------------------------------------------------------------


def prepare(
    session: Session,
    templates: TemplateRegistry,
    choice: Choice,
    member_id: str | None,
    settings: Settings,
) -> Message:
    """The marked test message of `choice`: with a member's real data, or the sample's."""
    if member_id:
        data = member_data(session, templates, choice, member_id, settings)
    else:
        data = sample_data(templates, choice, settings)
    return render_test(templates, choice, data)


def render_test(templates: TemplateRegistry, choice: Choice, data: dict[str, Any]) -> Message:
    """The message LINE will accept, with plain links, marked as a test."""
    try:
        message, _degraded = templates.render_for_line(
            choice.template,
            data,
            variant=choice.template_variant,
            link=None,  # plain links: no click of a test is counted or attributed
            marketing=choice.marketing,
        )
    except Exception as exc:  # TemplateError, TemplateDataError: bad data or layout
        raise StaffSendError(f"メッセージを作成できませんでした（{exc}）。") from exc
    return mark(message)


def mark(message: Message) -> Message:
    """【テスト配信】 at the start of the notification text and, where LINE's limits allow it,
    as a red line at the top of the first bubble."""
    marked = copy.deepcopy(message)
    if marked.get("type") == "text":
        marked["text"] = f"{TEST_MARK}\n{marked['text']}"[:TEXT_MAX]
        return marked
    marked["altText"] = f"{TEST_MARK}{marked.get('altText', '')}"[:ALT_TEXT_MAX]
    visible = copy.deepcopy(marked)
    if _add_visible_mark(visible.get("contents")) and not validate_messages([visible]):
        return visible
    return marked


def _add_visible_mark(container: Any) -> bool:
    if not isinstance(container, dict):
        return False
    bubble = container
    if container.get("type") == "carousel":
        bubbles = container.get("contents") or []
        bubble = bubbles[0] if bubbles else {}
    if bubble.get("type") != "bubble":
        return False
    body = bubble.get("body")
    if body is None:
        bubble["body"] = {"type": "box", "layout": "vertical", "contents": [dict(_MARK_TEXT)]}
        return True
    if body.get("type") == "box" and body.get("layout") == "vertical":
        body["contents"] = [dict(_MARK_TEXT), *body.get("contents", [])]
        return True
    return False  # a horizontal or baseline body: a line on top would break its layout


def line_error_text(exc: LineError) -> str:
    """The console's Japanese explanation of a refused push."""
    if isinstance(exc, LineMonthlyLimit):
        return "LINEの今月の送信数の上限に達しているため、送信できませんでした。"
    if isinstance(exc, LineRateLimited):
        return "LINEへの送信が混み合っています。少し待ってからもう一度お試しください。"
    if isinstance(exc, LineTimeout):
        return (
            "LINEから応答がありませんでした。届いている場合があるため、"
            "受信を確認してから送り直してください。"
        )
    if isinstance(exc, LineClientError):
        return (
            f"LINEがメッセージを受け付けませんでした（{exc.status}: {str(exc)[:200]}）。"
            "受信先がLINE公式アカウントを友だち追加しているかご確認ください。"
        )
    return "LINEに接続できませんでした。しばらくしてからもう一度お試しください。"


# -- sending -------------------------------------------------------------------------------


def send(
    session: Session,
    line: LineGateway,
    choice: Choice,
    message: Message,
    recipients: Iterable[Recipient],
    *,
    member_id: str | None,
    sent_by: str,
    sender_id: int | None,
    send_key: str,
    now: datetime,
) -> Outcome:
    """Record the send for every recipient, then push to each (never raises a LineError).

    The audit rows go in first: a second request with the same `send_key` (a double click)
    finds them, or waits for the first to commit and hits the unique key, and pushes nothing.
    The caller commits.
    """
    targets = list(recipients)
    if not targets:
        raise StaffSendError("テスト配信の受信先が登録されていません。")
    if _already_sent(session, send_key):
        return Outcome(choice, [SendReport(r, "duplicate") for r in targets])
    rows = [
        StaffSend(
            send_key=send_key,
            sender_id=sender_id,
            sent_by=sent_by[:254],
            recipient_id=r.operator_id,
            line_user_id=r.line_user_id,
            scenario_id=choice.scenario_id,
            step_id=choice.step.id if choice.step else None,
            template=choice.template,
            variant=choice.step_variant or choice.template_variant,
            member_id=member_id,
            state="sending",
            created_at=now,
        )
        for r in targets
    ]
    session.add_all(rows)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        if not _already_sent(session, send_key):  # another constraint: a bug, not a click
            raise
        return Outcome(choice, [SendReport(r, "duplicate") for r in targets])
    reports = []
    for recipient, row in zip(targets, rows, strict=True):
        key = retry_key_for("staff-test", f"{send_key}:{recipient.line_user_id}")
        try:
            result = line.push(recipient.line_user_id, [message], retry_key=key)
        except LineError as exc:
            row.state, row.error = "failed", f"{type(exc).__name__}: {exc}"[:1000]
            reports.append(SendReport(recipient, "failed", line_error_text(exc)))
            log.warning(
                "staff test send failed",
                extra={"operator": recipient.operator_id, "status": exc.status},
            )
            continue
        row.state = "duplicate" if result.duplicate else "sent"
        row.line_request_id = result.request_id
        reports.append(SendReport(recipient, row.state))
    session.flush()
    log.info(
        "staff test sent",
        extra={"what": choice.label, "recipients": len(targets), "sender": sender_id},
    )
    return Outcome(choice, reports)


def _already_sent(session: Session, send_key: str) -> bool:
    return bool(session.scalar(select(func.count()).where(StaffSend.send_key == send_key)))


def recent_sends(session: Session, limit: int = 50) -> list[StaffSend]:
    """The latest test sends, newest first (the console's audit list)."""
    return list(session.scalars(select(StaffSend).order_by(StaffSend.id.desc()).limit(limit)).all())


def erase_member_traces(
    session: Session, member_id: str, line_user_ids: Sequence[str]
) -> dict[str, int]:
    """Member erasure: the test sends made with the member's data forget whose data it was,
    and a LINE account erased with the member stops being a test recipient."""
    scrubbed = session.execute(
        update(StaffSend).where(StaffSend.member_id == member_id).values(member_id="erased")
    ).rowcount
    removed = 0
    if line_user_ids:
        removed = session.execute(
            StaffRecipient.__table__.delete().where(
                StaffRecipient.line_user_id.in_(list(line_user_ids))
            )
        ).rowcount
    return {"staff_test_sends": scrubbed or 0, "staff_test_recipients": removed or 0}
