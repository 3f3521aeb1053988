"""Cart and order events from the EC site: validation, state, and the flows they start or end."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.delivery import engine as deliveries
from bot.delivery.scenarios import Scenario, ScenarioBook
from bot.delivery.tracking import host_allowed
from bot.linking import service as linking
from bot.models import Cart, CartState, Order, ProductStock, ShopEvent, Shopper
from line_messages.links import has_userinfo, is_web_url

EVENT_TYPES = (
    "cart.updated",
    "cart.cleared",
    "order.placed",
    "order.shipped",
    "order.delivered",
    "product.restocked",
    "product.stock_changed",
)
# Events about the catalogue rather than one customer.
PRODUCT_EVENTS = ("product.restocked", "product.stock_changed")
MAX_ITEMS = 200
_LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
SHOP_WIDE = "shop"  # customer key of events about the catalogue, not a customer


class EventInvalid(ValueError):
    """A field of a shop event is missing or wrong; `field` is its dotted path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


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


# -- validation ------------------------------------------------------------------------------


# What counts as white space, spelled out so the OpenAPI schema's pattern says the same thing
# (JSON Schema's `\s` and Python's str.strip() disagree on control characters).
WHITESPACE = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# Some character that is not white space, and no NUL anywhere (PostgreSQL text can't hold it).
NOT_BLANK_PATTERN = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"
_NOT_BLANK = re.compile(NOT_BLANK_PATTERN)  # Python's re reads these escapes as JSON Schema does


def _str(
    obj: Mapping[str, Any], key: str, path: str, *, required: bool = True, max_len: int = 200
) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise EventInvalid(f"{path}{key}", "is required")
        return None
    if not isinstance(value, str) or not _NOT_BLANK.search(value):
        raise EventInvalid(f"{path}{key}", "must be a non-empty string without NUL characters")
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        # JSON can escape a lone surrogate; no database (or LINE) can store it.
        raise EventInvalid(f"{path}{key}", "contains an unpaired surrogate")
    if len(value) > max_len:
        raise EventInvalid(f"{path}{key}", f"must be at most {max_len} characters")
    return value


# Amounts, quantities and stock must fit a 32-bit database integer (2,147,483,647 yen is
# far beyond any order).
MAX_WHOLE = 2**31 - 1


def _int(
    obj: Mapping[str, Any], key: str, path: str, *, required: bool = True, minimum: int = 0
) -> int | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise EventInvalid(f"{path}{key}", "is required")
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one number type: 3.0 is the whole number 3
    if isinstance(value, bool) or not isinstance(value, int):
        raise EventInvalid(f"{path}{key}", "must be a whole number (yen amounts have no decimals)")
    if value < minimum:
        raise EventInvalid(f"{path}{key}", f"must be at least {minimum}")
    if value > MAX_WHOLE:
        raise EventInvalid(f"{path}{key}", f"must be at most {MAX_WHOLE}")
    return value


def _url(obj: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str | None:
    value = _str(obj, key, path, required=required, max_len=2000)
    if value is not None and has_userinfo(value):
        raise EventInvalid(f"{path}{key}", "must not carry a user name or password (user@host)")
    if value is not None and not is_web_url(value):
        raise EventInvalid(f"{path}{key}", "must be an absolute http(s) URL")
    return value


# Fields a shopper opens through a tracking link: they must point at the shop's own hosts.
# Images (`image_url`) are fetched by LINE, never redirected to, so they may live on a CDN.
LINK_FIELDS = frozenset({"url", "product_url", "tracking_url"})


def _check_links(node: Any, hosts: Collection[str], path: str = "") -> None:
    """EventInvalid naming the first link field whose host is not one of the shop's."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            where = f"{path}.{key}" if path else key
            if key in LINK_FIELDS and isinstance(value, str):
                if not host_allowed(value, hosts):
                    raise EventInvalid(
                        where, "must link to one of the shop's own hosts (LINK_HOSTS)"
                    )
            else:
                _check_links(value, hosts, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _check_links(value, hosts, f"{path}[{index}]")


def _object(obj: Mapping[str, Any], key: str, path: str = "") -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        raise EventInvalid(f"{path}{key}", "is required")
    if not isinstance(value, Mapping):
        raise EventInvalid(f"{path}{key}", "must be an object")
    return value


def _items(obj: Mapping[str, Any], path: str, *, cart: bool) -> list[dict[str, Any]]:
    raw = obj.get("items")
    if not isinstance(raw, list):
        raise EventInvalid(f"{path}items", "must be a list" if raw is not None else "is required")
    if len(raw) > MAX_ITEMS:
        raise EventInvalid(f"{path}items", f"must have at most {MAX_ITEMS} entries")
    items = []
    for index, item in enumerate(raw):
        where = f"{path}items[{index}]."
        if not isinstance(item, Mapping):
            raise EventInvalid(where[:-1], "must be an object")
        items.append(
            {
                "sku": _str(item, "sku", where, max_len=128),
                "name": _str(item, "name", where),
                "price": _int(item, "price", where),
                "quantity": _int(item, "quantity", where, minimum=1),
                "image_url": _url(item, "image_url", where, required=False),
                "product_url": _url(item, "product_url", where, required=cart),
                "stock": _int(item, "stock", where, required=False),
            }
        )
    return items


MIN_EVENT_YEAR, MAX_EVENT_YEAR = 2000, 2999
EVENT_TIME_PATTERN = r"^2[0-9]{3}-"  # the same bounds for the OpenAPI schema


def _timestamp(payload: Mapping[str, Any]) -> datetime:
    raw = payload.get("occurred_at")
    if not isinstance(raw, str):
        raise EventInvalid("occurred_at", "is required (ISO 8601 with a UTC offset)")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise EventInvalid("occurred_at", f"{raw!r} is not an ISO 8601 date-time") from None
    if value.tzinfo is None:
        raise EventInvalid("occurred_at", "needs a UTC offset such as +09:00 or Z")
    # The engine adds days and months to this time, and 0001-01-01T00:00+14:00 has no UTC
    # date at all: keep well inside what datetime can hold (the year as written).
    if not MIN_EVENT_YEAR <= value.year <= MAX_EVENT_YEAR:
        raise EventInvalid(
            "occurred_at", f"must fall between the years {MIN_EVENT_YEAR} and {MAX_EVENT_YEAR}"
        )
    return value.astimezone(UTC)


def _body(kind: str, p: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "cart.updated":
        cart = _object(p, "cart")
        currency = cart.get("currency")
        if currency != "JPY":
            raise EventInvalid("cart.currency", 'must be "JPY"')
        return {
            "cart": {
                "id": _str(cart, "id", "cart.", max_len=128),
                "url": _url(cart, "url", "cart."),
                "currency": "JPY",
                "subtotal": _int(cart, "subtotal", "cart."),
                "items": _items(cart, "cart.", cart=True),
            }
        }
    if kind == "cart.cleared":
        return {"cart_id": _str(p, "cart_id", "", max_len=128)}
    if kind == "order.placed":
        order = _object(p, "order")
        return {
            "order": {
                "id": _str(order, "id", "order.", max_len=128),
                "cart_id": _str(order, "cart_id", "order.", required=False, max_len=128),
                "total": _int(order, "total", "order."),
                "items": _items(order, "order.", cart=False),
                "url": _url(order, "url", "order.", required=False),
            }
        }
    if kind == "order.shipped":
        estimated = _str(p, "estimated_delivery_date", "", required=False, max_len=10)
        if estimated is not None:
            try:
                date.fromisoformat(estimated)
            except ValueError:
                raise EventInvalid("estimated_delivery_date", "must be a date YYYY-MM-DD") from None
        return {
            "order_id": _str(p, "order_id", "", max_len=128),
            "carrier": _str(p, "carrier", "", max_len=60),
            "tracking_number": _str(p, "tracking_number", "", max_len=60),
            "tracking_url": _url(p, "tracking_url", "", required=False),
            "estimated_delivery_date": estimated,
        }
    if kind == "order.delivered":
        return {"order_id": _str(p, "order_id", "", max_len=128)}
    if kind == "product.stock_changed":
        return {"sku": _str(p, "sku", "", max_len=128), "stock": _int(p, "stock", "")}
    return {  # product.restocked
        "sku": _str(p, "sku", "", max_len=128),
        "name": _str(p, "name", ""),
        "product_url": _url(p, "product_url", ""),
        "image_url": _url(p, "image_url", "", required=False),
    }


def validate_event(payload: Any, link_hosts: Collection[str] | None = None) -> ShopEventIn:
    """Check a POSTed event strictly; EventInvalid names the first bad field.

    With `link_hosts`, every link field must open one of those hosts.
    """
    if not isinstance(payload, Mapping):
        raise EventInvalid("(body)", "must be a JSON object")
    kind = payload.get("type")
    if kind not in EVENT_TYPES:
        raise EventInvalid("type", f"must be one of {', '.join(EVENT_TYPES)}")
    event_id = _str(payload, "event_id", "", max_len=128)
    occurred_at = _timestamp(payload)
    member_id = _str(payload, "member_id", "", required=False, max_len=128)
    if member_id is not None and not linking.is_member_id(member_id):
        # The grammar of DELETE /members/{id}: every id accepted here can be erased there.
        raise EventInvalid("member_id", f"must be {linking.MEMBER_ID_WHAT}")
    line_user_id = _str(payload, "line_user_id", "", required=False, max_len=64)
    if line_user_id is not None and not _LINE_USER_ID.match(line_user_id):
        raise EventInvalid("line_user_id", "must be a LINE user ID (U followed by 32 hex digits)")
    if kind in PRODUCT_EVENTS:
        key = SHOP_WIDE
    elif member_id is None and line_user_id is None:
        raise EventInvalid("member_id", "is required (or line_user_id)")
    else:
        key = deliveries.customer_key(member_id, line_user_id)
    assert event_id is not None
    body = _body(kind, payload)
    if link_hosts is not None:
        _check_links(body, link_hosts)
    return ShopEventIn(kind, event_id, occurred_at, key, body)


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
    if shopper is not None:
        row.shopper_id = shopper.id
        row.applied = True
        if row.outcome is None:
            _run_flows(session, event, shopper, rules, now)
    return row


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
    elif event.type in ("order.shipped", "order.delivered"):
        order = _order(session, body["order_id"], event.customer_key, now)
        _start_order_flows(session, shopper, order, event.type, at, rules, now)


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
            if shopper is None or not shopper.is_following:
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
