"""Cart and order events from the EC site: the state they change and the flows they start or end.

Their shapes, and the checks of a posted event, are `bot.delivery.schemas`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.delivery import engine as deliveries
from bot.delivery import recipients, schemas
from bot.delivery.scenarios import Scenario, ScenarioBook
from bot.delivery.schemas import PRODUCT_EVENTS
from bot.models import Cart, CartState, Order, ProductStock, ShopEvent, Shopper

SHOP_WIDE = "shop"  # customer key of events about the catalogue, not a customer


@dataclass(frozen=True)
class ShopEventIn:
    """A validated shop event."""

    type: str
    event_id: str
    occurred_at: datetime
    customer_key: str
    body: dict[str, Any]


@dataclass(frozen=True)
class DeliveryRules:
    """The settings the event handling needs (kept apart from Flask and Settings)."""

    book: ScenarioBook
    abandonment_cooldown: timedelta


# -- intake ----------------------------------------------------------------------------------


def validate_event(payload: Any, link_hosts: Collection[str] | None = None) -> ShopEventIn:
    """Check a POSTed event against its shape (`schemas`) and key it by its customer;
    EventInvalid names the first bad field.

    With `link_hosts`, every link field must open one of those hosts.
    """
    event = schemas.parse_event(payload, link_hosts)
    if event.type in PRODUCT_EVENTS:
        key = SHOP_WIDE
    else:
        key = deliveries.customer_key(event.member_id, event.line_user_id)
    return ShopEventIn(event.type, event.event_id, event.occurred_at, key, event.body())


# -- recording and applying ------------------------------------------------------------------


def record_event(
    session: Session, event: ShopEventIn, rules: DeliveryRules, now: datetime
) -> ShopEvent | None:
    """Store and apply an event; None (and no effect) if its event_id was seen before.

    A restock only stores the event: its audience may be thousands of shoppers, so the
    caller hands it to `apply_restock` in the background once the row is committed.
    """
    if session.scalars(select(ShopEvent.id).where(ShopEvent.event_id == event.event_id)).first():
        return None
    row = ShopEvent(
        event_id=event.event_id,
        event_type=event.type,
        customer_key=event.customer_key,
        payload=event.body,
        occurred_at=event.occurred_at,
        received_at=now,
        applied=False,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None  # the same event_id raced in from a concurrent request
    row.outcome = _update_state(session, event, now)
    if event.type == "product.stock_changed":
        row.applied = True  # nothing more to do: sends read the stock when they render
        return row
    if event.type == "product.restocked":
        return row
    shopper = deliveries.shopper_for_key(session, event.customer_key)
    if shopper is None:
        shopper = recipients.recipient_for_key(session, event.customer_key, rules.book, now)
    if shopper is not None:
        row.shopper_id = shopper.id
        row.applied = True
        if row.outcome is None:
            _run_flows(session, event, shopper, rules_for(shopper, rules), now)
    return row


def rules_for(shopper: Shopper, rules: DeliveryRules) -> DeliveryRules:
    """The scenarios that may start for this shopper: for a member known only by contact
    (no LINE user), only those with a step that may go by e-mail or SMS."""
    if shopper.line_user_id is not None:
        return rules
    return DeliveryRules(rules.book.off_line(), rules.abandonment_cooldown)


def _update_state(session: Session, event: ShopEventIn, now: datetime) -> str | None:
    """Apply the event to the cart/order record; a reason string if it was stale."""
    body, at, key = event.body, event.occurred_at, event.customer_key
    if event.type == "cart.updated":
        data = body["cart"]
        cart = _cart(session, data["id"])
        if cart is not None and (
            at <= cart.changed_at or (cart.closed_at is not None and at <= cart.closed_at)
        ):
            return "stale: the cart has newer news"
        if cart is None:
            cart = Cart(cart_id=data["id"], customer_key=key, changed_at=at)
            session.add(cart)
        cart.state = CartState.OPEN if data["items"] else CartState.CLEARED
        cart.data = data
        cart.changed_at = at
        cart.updated_at = now
        deliveries.set_cart_skus(session, cart, [i["sku"] for i in data["items"]])
        record_stock(
            session,
            {i["sku"]: i["stock"] for i in data["items"] if i["stock"] is not None},
            at,
            now,
        )
        return None
    if event.type == "product.stock_changed":
        if not record_stock(session, {body["sku"]: body["stock"]}, at, now):
            return "stale: a newer stock figure is known"
        return None
    if event.type == "cart.cleared":
        cart = _cart(session, body["cart_id"])
        if cart is not None and at < cart.changed_at:
            return "stale: the cart changed after it was cleared"
        _close_cart(session, body["cart_id"], key, CartState.CLEARED, at, now)
        return None
    if event.type == "order.placed":
        data = body["order"]
        order = _order(session, data["id"], key, now)
        if order.placed_at is not None:
            return "already placed"
        order.placed_at, order.cart_id, order.total, order.data = (
            at,
            data["cart_id"],
            data["total"],
            data,
        )
        if data["cart_id"]:
            _close_cart(session, data["cart_id"], key, CartState.ORDERED, at, now)
        return None
    if event.type == "order.shipped":
        order = _order(session, body["order_id"], key, now)
        if order.shipped_at is not None:
            return "already shipped"
        order.shipped_at, order.shipping = at, body
        return None
    if event.type == "order.delivered":
        order = _order(session, body["order_id"], key, now)
        if order.delivered_at is not None:
            return "already delivered"
        order.delivered_at = at
        return None
    if event.type in PAYMENT_EVENTS:
        _order(session, body["order_id"], key, now)
        settled = _payment_settled(session, [key], body["order_id"])
        if event.type == "order.payment_pending" and settled is not None:
            return f"stale: the order was already {settled}"
        return None
    return None


PAYMENT_EVENTS = ("order.payment_pending", "order.paid", "order.cancelled")
_SETTLED = {"order.paid": "paid", "order.cancelled": "cancelled"}


def _payment_settled(session: Session, keys: Collection[str], order_id: str) -> str | None:
    """'paid' or 'cancelled' if such an event of the order was recorded, else None."""
    rows = session.execute(
        select(ShopEvent.event_type, ShopEvent.payload).where(
            ShopEvent.customer_key.in_(list(keys)), ShopEvent.event_type.in_(list(_SETTLED))
        )
    ).all()
    for kind, payload in rows:
        if (payload or {}).get("order_id") == order_id:
            return _SETTLED[kind]
    return None


def record_stock(session: Session, levels: Mapping[str, int], at: datetime, now: datetime) -> bool:
    """Keep each SKU's stock as of `at` unless a newer figure is known; True if any applied.

    One row per product, whatever the number of carts holding it: a sale-day stock change
    is one write, and a send reads the latest figure of its items in one query. Reminder
    timers are not touched, unlike a cart.updated sent just to correct the stock.
    """
    if not levels:
        return False
    skus = sorted(levels)  # one lock order, so two events cannot deadlock
    known = {
        row.sku: row
        for row in session.scalars(
            select(ProductStock)
            .where(ProductStock.sku.in_(skus))
            .order_by(ProductStock.sku)
            .with_for_update()
        )
    }
    applied = False
    for sku in skus:
        row = known.get(sku)
        if row is None:
            try:
                with session.begin_nested():
                    session.add(
                        ProductStock(sku=sku, stock=levels[sku], changed_at=at, updated_at=now)
                    )
                applied = True
                continue
            except IntegrityError:  # a concurrent event stored this SKU first
                row = session.get(ProductStock, sku, with_for_update=True, populate_existing=True)
                assert row is not None
        if at > row.changed_at:
            row.stock, row.changed_at, row.updated_at = levels[sku], at, now
            applied = True
    return applied


def _cart(session: Session, cart_id: str) -> Cart | None:
    return session.scalars(select(Cart).where(Cart.cart_id == cart_id)).first()


def _close_cart(
    session: Session, cart_id: str, key: str, state: CartState, at: datetime, now: datetime
) -> None:
    cart = _cart(session, cart_id)
    if cart is None:
        # Remember the close, so an older cart.updated arriving late cannot reopen it.
        cart = Cart(cart_id=cart_id, customer_key=key, data={}, skus=[], changed_at=at)
        session.add(cart)
    if cart.state is not CartState.ORDERED or state is CartState.ORDERED:
        cart.state = state
    cart.closed_at = max(cart.closed_at or at, at)
    cart.updated_at = now


def _order(session: Session, order_id: str, key: str, now: datetime) -> Order:
    order = session.scalars(select(Order).where(Order.order_id == order_id)).first()
    if order is None:
        order = Order(order_id=order_id, customer_key=key, updated_at=now)
        session.add(order)
    order.updated_at = now
    return order


def _cooldown(scenario: Scenario, rules: DeliveryRules) -> timedelta:
    return scenario.cooldown if scenario.cooldown is not None else rules.abandonment_cooldown


def _start_cart_flows(
    session: Session, shopper: Shopper, cart: Cart, rules: DeliveryRules, now: datetime
) -> None:
    for scenario in rules.book.triggered_by("cart.updated"):
        deliveries.start_flow(
            session,
            shopper,
            scenario,
            f"cart:{cart.cart_id}",
            anchor=cart.changed_at,
            context={"cart_id": cart.cart_id, "skus": list(cart.skus or [])},
            now=now,
            restart=True,
            cooldown=_cooldown(scenario, rules),
        )


def _start_order_flows(
    session: Session,
    shopper: Shopper,
    order: Order,
    trigger: str,
    anchor: datetime,
    rules: DeliveryRules,
    now: datetime,
) -> None:
    for scenario in rules.book.triggered_by(trigger):
        deliveries.start_flow(
            session,
            shopper,
            scenario,
            f"order:{order.order_id}",
            anchor=anchor,
            context={"order_id": order.order_id},
            now=now,
            restart=False,
        )


def _run_flows(
    session: Session, event: ShopEventIn, shopper: Shopper, rules: DeliveryRules, now: datetime
) -> None:
    body, at = event.body, event.occurred_at
    book = rules.book
    if event.type == "cart.updated":
        cart = _cart(session, body["cart"]["id"])
        assert cart is not None
        if cart.state is CartState.OPEN:
            _start_cart_flows(session, shopper, cart, rules, now)
        else:
            deliveries.end_flows(
                session, shopper, [s.id for s in book.triggered_by("cart.updated")],
                "cart emptied", now, subject=f"cart:{cart.cart_id}",
            )  # fmt: skip
    elif event.type == "cart.cleared":
        deliveries.end_flows(
            session, shopper, [s.id for s in book.ended_by("cart.cleared")],
            "cart cleared", now, subject=f"cart:{body['cart_id']}",
        )  # fmt: skip
    elif event.type == "order.placed":
        order_data = body["order"]
        # Ends every abandonment flow timed from a cart change before the order (any cart:
        # the shopper bought); a cart changed after the order keeps its own flow.
        deliveries.end_flows(
            session, shopper, [s.id for s in book.ended_by("order.placed")],
            f"ordered: {order_data['id']}", now, anchored_before=at,
        )  # fmt: skip
        deliveries.attribute_order(
            session,
            shopper,
            order_id=order_data["id"],
            amount=order_data["total"],
            ordered_at=at,
            windows={s.id: s.attribution_window for s in book.scenarios},
            now=now,
        )
        order = _order(session, order_data["id"], event.customer_key, now)
        _start_order_flows(session, shopper, order, "order.placed", at, rules, now)
    elif event.type == "order.payment_pending":
        _start_payment_flows(session, shopper, body, at, rules, now)
    elif event.type in ("order.paid", "order.cancelled"):
        deliveries.end_flows(
            session, shopper, [s.id for s in book.ended_by(event.type)],
            f"{_SETTLED[event.type]}: {body['order_id']}", now,
            subject=f"payment:{body['order_id']}",
        )  # fmt: skip
    elif event.type in ("order.shipped", "order.delivered"):
        order = _order(session, body["order_id"], event.customer_key, now)
        _start_order_flows(session, shopper, order, event.type, at, rules, now)


def _start_payment_flows(
    session: Session,
    shopper: Shopper,
    body: Mapping[str, Any],
    at: datetime,
    rules: DeliveryRules,
    now: datetime,
) -> None:
    """Plan the reminders of an unpaid order, timed from its payment deadline."""
    payment = body["payment"]
    deadline = datetime.fromisoformat(payment["deadline"]).isoformat()
    for scenario in rules.book.triggered_by("order.payment_pending"):
        deliveries.start_flow(
            session,
            shopper,
            scenario,
            f"payment:{body['order_id']}",
            anchor=at,
            context={
                "order_id": body["order_id"],
                "deadline": deadline,
                "payment": {**payment, "deadline": deadline},
            },
            now=now,
            restart=True,  # a new deadline for the order moves the reminders
        )


def apply_restock(session: Session, shop_event_id: int, rules: DeliveryRules, now: datetime) -> int:
    """Start the restock flows of a stored `product.restocked` event, once; returns how many.

    The event row is locked while its audience is worked out, so that a second run (a retry,
    or the sweep of `pending_restocks`) waits and then finds it applied.
    """
    row = session.get(ShopEvent, shop_event_id, with_for_update=True)
    if row is None or row.applied or row.event_type != "product.restocked":
        return 0
    body = row.payload
    item = {
        "name": body["name"],
        "url": body["product_url"],
        "image_url": body["image_url"],
        "sku": body["sku"],
    }
    started = 0
    for scenario in rules.book.triggered_by("product.restocked"):
        since = row.occurred_at - (scenario.audience_within or timedelta(days=30))
        for key, _cart_row in deliveries.abandoned_cart_holders(session, body["sku"], since):
            shopper = deliveries.shopper_for_key(session, key)
            if shopper is None:
                # A member known only by e-mail or phone, for a scenario that may use them.
                shopper = recipients.recipient_for_key(session, key, rules.book, now)
            # A LINE-only scenario reaches followers; one that may go by e-mail or SMS also
            # reaches the rest (the sender picks the channel each can receive, or none).
            if shopper is None or not (shopper.is_following or scenario.reaches_off_line):
                continue
            deliveries.start_flow(
                session,
                shopper,
                scenario,
                f"restock:{body['sku']}:{row.event_id}",
                anchor=row.occurred_at,
                context={"item": item},
                now=now,
                restart=False,
            )
            started += 1
    row.applied = True
    return started


def pending_restocks(session: Session, received_before: datetime) -> list[int]:
    """Restock events stored before the cut-off but never applied (their job was lost)."""
    return list(
        session.scalars(
            select(ShopEvent.id)
            .where(
                ShopEvent.event_type == "product.restocked",
                ShopEvent.applied.is_(False),
                ShopEvent.received_at < received_before,
            )
            .order_by(ShopEvent.id)
            .limit(1000)
        )
    )


def _still_running(scenario: Scenario, anchor: datetime, now: datetime) -> bool:
    last = scenario.steps[-1]
    return anchor + last.delay + last.expires_after > now


def replay_for_shopper(
    session: Session, shopper: Shopper, rules: DeliveryRules, now: datetime
) -> int:
    """Start the flows of events kept while the customer was not a linked shopper yet.

    Flows start from the current cart/order state (so out-of-order or superseded events play
    no part) and only if they would still be running now; returns the events taken over.
    """
    keys = deliveries.customer_keys(shopper)
    waiting = session.scalars(
        select(ShopEvent).where(ShopEvent.customer_key.in_(keys), ShopEvent.applied.is_(False))
    ).all()
    for row in waiting:
        row.applied = True
        row.shopper_id = shopper.id
    if not waiting:
        return 0
    book = rules.book
    # The latest payment_pending of each order not paid or cancelled since.
    unpaid: dict[str, ShopEvent] = {}
    for row in sorted(waiting, key=lambda r: r.occurred_at):
        if row.event_type == "order.payment_pending" and row.outcome is None:
            unpaid[row.payload["order_id"]] = row
    for order_id, row in unpaid.items():
        if _payment_settled(session, keys, order_id) is None:
            _start_payment_flows(session, shopper, row.payload, row.occurred_at, rules, now)
    for cart in session.scalars(
        select(Cart).where(Cart.customer_key.in_(keys), Cart.state == CartState.OPEN)
    ).all():
        if any(_still_running(s, cart.changed_at, now) for s in book.triggered_by("cart.updated")):
            _start_cart_flows(session, shopper, cart, rules, now)
    for order in session.scalars(select(Order).where(Order.customer_key.in_(keys))).all():
        for trigger, at in (
            ("order.placed", order.placed_at),
            ("order.shipped", order.shipped_at),
            ("order.delivered", order.delivered_at),
        ):
            if at is None:
                continue
            scenarios = [s for s in book.triggered_by(trigger) if _still_running(s, at, now)]
            for scenario in scenarios:
                deliveries.start_flow(
                    session, shopper, scenario, f"order:{order.order_id}",
                    anchor=at, context={"order_id": order.order_id}, now=now, restart=False,
                )  # fmt: skip
    return len(waiting)
