"""Sending one claimed delivery: re-check the shopper's state now, render, push, record.

A send reads everything fresh (is the cart still unpaid, is the shopper still following and
opted in, not talking to staff, under the daily cap, outside quiet hours) and renders with the
data as it is at that moment. The delivery's id is the push's retry key, so a send repeated
after a crash can never reach the shopper twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.line import (
    LineClientError,
    LineError,
    LineGateway,
    LineMonthlyLimit,
    Message,
    retry_key_for,
)
from bot.metrics import MONTHLY_LIMIT
from bot.models import Cart, CartState, Delivery, DeliveryState, Flow, FlowState, Order, Shopper
from bot.services import deliveries
from bot.services.messaging import Messenger
from bot.services.scenarios import ScenarioBook, Step
from bot.services.support import is_with_staff
from bot.settings import Settings
from bot.tracking import sign_link

if TYPE_CHECKING:
    from flex_templates import TemplateRegistry

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
BACKOFF_SECONDS = (5, 15, 60, 120, 300, 600, 1200, 1800, 3600)
STAFF_RECHECK = timedelta(minutes=30)
MONTHLY_LIMIT_RECHECK = timedelta(hours=1)
LINK_LIFETIME = timedelta(days=90)


@dataclass(frozen=True)
class Decision:
    """What to do with a claimed delivery."""

    action: str  # "send", "postpone", "skip", "cancel", "fail"
    reason: str | None = None
    due_at: datetime | None = None
    message: Message | None = None


def _local_midnight_after(now: datetime, settings: Settings) -> datetime:
    local = now.astimezone(settings.tz)
    next_day = (local + timedelta(days=1)).date()
    return datetime.combine(next_day, datetime.min.time(), tzinfo=settings.tz).astimezone(UTC)


def quiet_until(at: datetime, settings: Settings) -> datetime | None:
    """The end of the quiet period `at` falls in (aware UTC), or None outside quiet hours."""
    quiet = settings.quiet_hours
    if quiet is None:
        return None
    local = at.astimezone(settings.tz)
    if not quiet.contains(local.time()):
        return None
    end = datetime.combine(local.date(), quiet.end, tzinfo=settings.tz)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(UTC)


def marketing_sent_today(
    session: Session, shopper: Shopper, now: datetime, settings: Settings
) -> int:
    """Marketing pushes to the shopper since the start of the shop-local day."""
    local = now.astimezone(settings.tz)
    start = datetime.combine(local.date(), datetime.min.time(), tzinfo=settings.tz)
    return (
        session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.shopper_id == shopper.id,
                Delivery.marketing.is_(True),
                Delivery.state == DeliveryState.SENT,
                Delivery.sent_at >= start.astimezone(UTC),
            )
        )
        or 0
    )


def low_stock_items(items: list[dict[str, Any]], at_most: int) -> list[dict[str, Any]]:
    """Items the shop reports with `at_most` or fewer left (unknown stock is never low)."""
    return [i for i in items if isinstance(i.get("stock"), int) and i["stock"] <= at_most]


def _template_item(item: dict[str, Any], *, low: bool = False) -> dict[str, Any]:
    out = {
        "name": item["name"],
        "price": item.get("price"),
        "quantity": item.get("quantity") or 1,
        "image_url": item.get("image_url"),
        "url": item.get("product_url") or item.get("url"),
    }
    if low:
        out["stock"] = item.get("stock")
        out["low_stock"] = True
    return {k: v for k, v in out.items() if v is not None}


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


class NotSendable(Exception):
    """The subject of the delivery no longer allows it (carries the skip/cancel decision)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


def template_data(
    session: Session,
    delivery: Delivery,
    flow: Flow,
    step: Step,
    shopper: Shopper,
    settings: Settings,
) -> dict[str, Any]:
    """The template's data from the cart/order as it is now; NotSendable if moot."""
    context = flow.context or {}
    data: dict[str, Any] = {"shop_name": settings.shop_name}
    if shopper.display_name:
        data["shopper_name"] = shopper.display_name
    if "cart_id" in context:
        cart = session.scalars(select(Cart).where(Cart.cart_id == context["cart_id"])).first()
        if cart is None or cart.state is not CartState.OPEN:
            state = cart.state.value if cart else "gone"
            raise NotSendable(Decision("cancel", f"cart {state}"))
        items = list(cart.data.get("items") or [])
        flagged: list[dict[str, Any]] = []
        if step.low_stock_at_most is not None:
            flagged = low_stock_items(items, step.low_stock_at_most)
            if not flagged:
                # Never fake scarcity: without a really low item this step is not sent.
                raise NotSendable(
                    Decision(
                        "skip", f"condition: no item has {step.low_stock_at_most} or fewer left"
                    )
                )
        flagged_skus = {i["sku"] for i in flagged}
        data.update(
            cart_url=cart.data["url"],
            subtotal=cart.data.get("subtotal"),
            items=[_template_item(i, low=i["sku"] in flagged_skus) for i in items],
        )
    elif "order_id" in context:
        order = session.scalars(select(Order).where(Order.order_id == context["order_id"])).first()
        if order is None:
            raise NotSendable(Decision("cancel", "order unknown"))
        odata = order.data or {}
        items = [_template_item(i) for i in odata.get("items") or []]
        data.update(order_number=order.order_id, items=items)
        if odata.get("total") is not None:
            data["total"] = odata["total"]
        if odata.get("url"):
            data["order_url"] = odata["url"]
        shipping = order.shipping or {}
        for key in ("carrier", "tracking_number", "tracking_url"):
            if shipping.get(key):
                data[key] = shipping[key]
        if shipping.get("estimated_delivery_date"):
            data["estimated_delivery"] = shipping["estimated_delivery_date"]
        shop_url = _origin(next((i.get("url") for i in items if i.get("url")), None))
        if shop_url:
            data["shop_url"] = shop_url
    elif "item" in context:
        item = dict(context["item"])
        data["item"] = {k: v for k, v in item.items() if k != "sku" and v is not None}
    data.update(step.data)
    variant = next((v for v in step.variants if v.name == delivery.variant), None)
    if variant is not None:
        data.update(variant.data)
    return data


@dataclass
class DeliverySender:
    """Sends claimed deliveries; one instance per job, safe to call from several threads."""

    session_factory: Callable[[], Session]
    line: LineGateway
    clock: Clock
    settings: Settings
    book: ScenarioBook
    templates: TemplateRegistry
    row_locks: bool = False  # PostgreSQL: lock the delivery (and shopper) rows while sending

    def send(self, delivery_id: int) -> str:
        """Handle one claimed delivery; returns the resulting state (or 'gone')."""
        session = self.session_factory()
        try:
            outcome = self._send(session, delivery_id)
            session.commit()
            return outcome
        except Exception:
            session.rollback()
            log.exception("delivery send crashed", extra={"delivery_id": delivery_id})
            # Left in `sending`: the dispatcher re-claims it after the lease, and the retry
            # key keeps a push that did get through from being shown twice.
            return "error"
        finally:
            session.close()

    def _send(self, session: Session, delivery_id: int) -> str:
        query = select(Delivery).where(
            Delivery.id == delivery_id, Delivery.state == DeliveryState.SENDING
        )
        if self.row_locks:
            query = query.with_for_update(skip_locked=True)
        delivery = session.scalars(query).first()
        if delivery is None:
            return "gone"  # finished already, or another worker holds it right now
        now = self.clock.now()
        decision = self.decide(session, delivery, now)
        if decision.action != "send":
            self._apply(session, delivery, decision, now)
            return delivery.state.value
        return self._push(session, delivery, decision, now)

    def decide(self, session: Session, delivery: Delivery, now: datetime) -> Decision:
        """Every check that must pass right now before the message may go out."""
        flow = session.get(Flow, delivery.flow_id)
        shopper = session.get(
            Shopper, delivery.shopper_id, with_for_update=self.row_locks and delivery.marketing
        )
        if flow is None or shopper is None:
            return Decision("cancel", "flow or shopper removed")
        if flow.state is FlowState.ENDED:
            return Decision("cancel", flow.end_reason or "flow ended")
        if not shopper.is_following:
            return Decision("cancel", "unfollowed")
        scenario = self.book.get(delivery.scenario_id)
        if scenario is None:
            return Decision("cancel", "scenario no longer configured")
        try:
            step = scenario.step(delivery.step_id)
        except KeyError:
            return Decision("cancel", "step no longer configured")
        marketing = delivery.marketing or self.templates.is_marketing(delivery.template)
        if marketing and not shopper.marketing_opt_in:
            return Decision("cancel", "opted out")
        sent = sum(
            1
            for d in deliveries.flow_deliveries(session, flow).values()
            if d.state is DeliveryState.SENT
        )
        if sent >= scenario.max_messages:
            return Decision("skip", "max_messages: enough messages for this flow")
        if delivery.expires_at is not None and now > delivery.expires_at:
            return Decision("skip", f"stale: was due {delivery.due_at:%Y-%m-%d %H:%M} UTC")
        if marketing:
            later = self._marketing_wait(session, shopper, now)
            if later is not None:
                due, why = later
                if delivery.expires_at is not None and due > delivery.expires_at:
                    return Decision("skip", f"{why}; would be stale by then")
                return Decision("postpone", why, due_at=due)
        try:
            data = template_data(session, delivery, flow, step, shopper, self.settings)
        except NotSendable as exc:
            return exc.decision
        variant = next((v for v in step.variants if v.name == delivery.variant), None)
        try:
            message = self.templates.render(
                delivery.template,
                data,
                variant=variant.template_variant if variant else None,
                link=self._linker(delivery),
            )
        except Exception as exc:  # TemplateError / TemplateDataError: fix the data, then retry
            return Decision("fail", f"render: {exc}")
        return Decision("send", message=message)

    def _marketing_wait(
        self, session: Session, shopper: Shopper, now: datetime
    ) -> tuple[datetime, str] | None:
        paused = deliveries.marketing_paused_until(session, now)
        if paused is not None:
            return paused, "postponed: LINE monthly limit reached"
        if is_with_staff(session, shopper):
            return now + STAFF_RECHECK, "postponed: chat is with staff"
        quiet = quiet_until(now, self.settings)
        if quiet is not None:
            return quiet, "postponed: quiet hours"
        cap = self.settings.daily_marketing_cap
        if marketing_sent_today(session, shopper, now, self.settings) >= cap:
            tomorrow = _local_midnight_after(now, self.settings)
            return quiet_until(tomorrow, self.settings) or tomorrow, "postponed: daily cap"
        return None

    def _linker(self, delivery: Delivery) -> Callable[[str, str], str]:
        secret = self.settings.secret_key.encode()
        base = self.settings.public_base_url.rstrip("/")
        content = f"{delivery.step_id}-{delivery.variant or 'default'}"
        expires = delivery.created_at + LINK_LIFETIME

        def link(url: str, _label: str) -> str:
            token = sign_link(
                secret,
                url=url,
                delivery_id=delivery.id,
                shopper_id=delivery.shopper_id,
                campaign=delivery.scenario_id,
                content=content,
                expires_at=expires,
            )
            return f"{base}/r/{token}"

        return link

    def _apply(
        self, session: Session, delivery: Delivery, decision: Decision, now: datetime
    ) -> None:
        if decision.action == "postpone":
            assert decision.due_at is not None
            delivery.state = DeliveryState.PENDING
            delivery.due_at = decision.due_at
            delivery.reason = decision.reason
            delivery.claimed_at = None
            delivery.updated_at = now
            return
        state = {
            "skip": DeliveryState.SKIPPED,
            "cancel": DeliveryState.CANCELLED,
            "fail": DeliveryState.FAILED,
        }[decision.action]
        deliveries._finish(delivery, state, decision.reason, now)
        log.info(
            "delivery not sent",
            extra={"delivery_id": delivery.id, "state": state.value, "reason": decision.reason},
        )

    def _push(self, session: Session, delivery: Delivery, decision: Decision, now: datetime) -> str:
        assert decision.message is not None
        shopper = session.get(Shopper, delivery.shopper_id)
        assert shopper is not None
        messenger = Messenger(session, self.line, self.clock)
        delivery.attempts += 1
        try:
            result = messenger.push(
                shopper,
                [decision.message],
                retry_key=retry_key_for("delivery", delivery.id),
                delivery_id=delivery.id,
            )
        except LineMonthlyLimit as exc:
            until = now + MONTHLY_LIMIT_RECHECK
            deliveries.pause_marketing(session, until, str(exc), now)
            MONTHLY_LIMIT.set(1)
            log.error(
                "LINE monthly message limit reached: marketing paused",
                extra={"delivery_id": delivery.id, "until": until.isoformat()},
            )
            delivery.attempts -= 1  # not the message's fault; do not use up its retries
            self._apply(session, delivery, Decision("postpone", "LINE monthly limit", until), now)
            return delivery.state.value
        except LineClientError as exc:
            self._apply(session, delivery, Decision("fail", f"LINE {exc.status}: {exc}"), now)
            return delivery.state.value
        except LineError as exc:
            if not exc.retriable or delivery.attempts >= MAX_ATTEMPTS:
                self._apply(session, delivery, Decision("fail", f"gave up: {exc}"), now)
                return delivery.state.value
            wait = BACKOFF_SECONDS[min(delivery.attempts, len(BACKOFF_SECONDS)) - 1]
            wait = max(wait, exc.retry_after or 0)
            reason = f"retrying: {type(exc).__name__} {exc.status or ''}".strip()
            self._apply(
                session, delivery, Decision("postpone", reason, now + timedelta(seconds=wait)), now
            )
            return delivery.state.value
        delivery.state = DeliveryState.SENT
        delivery.sent_at = now
        delivery.line_request_id = result.request_id
        delivery.reason = "already accepted by LINE (retry key)" if result.duplicate else None
        delivery.claimed_at = None
        delivery.updated_at = now
        deliveries.DELIVERIES.labels("sent").inc()
        return delivery.state.value
