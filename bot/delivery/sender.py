"""Sending a batch of claimed deliveries: re-check the shoppers' state now, render, push, record.

A send reads everything fresh (is the cart still unpaid, is the shopper still following and
opted in, not talking to staff, under the daily cap, outside quiet hours) and renders with the
data as it is at that moment. It does so per batch: the rows and everything the decisions need
are read in a handful of set-based queries, the decisions are made in memory, the pushes go out
on a few threads (HTTP only), and the outcomes are written back in bulk with one commit. The
delivery's id is the push's retry key, so a send repeated after a crash can never reach the
shopper twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, any_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.core.clock import Clock
from bot.core.metrics import DELIVERIES, LINE_API_CALLS, MONTHLY_LIMIT
from bot.core.settings import Settings
from bot.delivery import engine as deliveries
from bot.delivery.scenarios import ScenarioBook, Step
from bot.delivery.tracking import link_key, sign_link
from bot.line.gateway import (
    LineClientError,
    LineError,
    LineGateway,
    LineMonthlyLimit,
    LineTimeout,
    Message,
    SendResult,
    retry_key_for,
)
from bot.line.messaging import message_summary
from bot.models import (
    Cart,
    CartState,
    ConversationMessage,
    Delivery,
    DeliveryState,
    Direction,
    Flow,
    FlowState,
    Order,
    ProductStock,
    Sender,
    Shopper,
    SupportTicket,
    TicketState,
    TrackedLink,
)
from line_messages import URI_MAX

if TYPE_CHECKING:
    from flex_templates import TemplateRegistry

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
BACKOFF_SECONDS = (5, 15, 60, 120, 300, 600, 1200, 1800, 3600)
STAFF_RECHECK = timedelta(minutes=30)
MONTHLY_LIMIT_RECHECK = timedelta(hours=1)
LINK_LIFETIME = timedelta(days=90)
ALREADY_ACCEPTED = "already accepted by LINE (retry key)"
RECHECK = "re-check: an earlier message of this batch was not sent"
OUT_OF_TIME = "batch time limit: sent on the next tick"

_DELIVERIES = Delivery.__table__
# One statement for every outcome, run as executemany: each row carries all the columns a send
# may change (unchanged ones keep their loaded value), so the parameter sets share one shape.
_WRITE_BACK = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        due_at=bindparam("b_due_at"),
        reason=bindparam("b_reason"),
        attempts=bindparam("b_attempts"),
        claimed_at=bindparam("b_claimed_at"),
        sent_at=bindparam("b_sent_at"),
        line_request_id=bindparam("b_line_request_id"),
        updated_at=bindparam("b_updated_at"),
    )
)
_LOG_MESSAGES = insert(ConversationMessage.__table__)


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


def local_day_start(now: datetime, settings: Settings) -> datetime:
    """The start of the shop-local day `now` falls in (aware UTC)."""
    local = now.astimezone(settings.tz)
    start = datetime.combine(local.date(), datetime.min.time(), tzinfo=settings.tz)
    return start.astimezone(UTC)


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


def _stock(item: Mapping[str, Any]) -> int | None:
    stock = item.get("stock")
    return stock if isinstance(stock, int) and not isinstance(stock, bool) else None


def sold_out(item: Mapping[str, Any]) -> bool:
    """True if the shop reports none left (unknown stock is never sold out)."""
    stock = _stock(item)
    return stock is not None and stock <= 0


def low_stock_items(items: list[dict[str, Any]], at_most: int) -> list[dict[str, Any]]:
    """Items the shop reports with 1 to `at_most` left (unknown stock is never low; none left
    is sold out, which is not a reason to hurry)."""
    return [i for i in items if (s := _stock(i)) is not None and 0 < s <= at_most]


def with_latest_stock(
    items: list[dict[str, Any]], stock: Mapping[str, int]
) -> list[dict[str, Any]]:
    """The cart's items with the newest stock figure known for their SKU."""
    return [{**i, "stock": stock[i["sku"]]} if i.get("sku") in stock else i for i in items]


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
    if sold_out(item):
        out["stock"] = item.get("stock")
        out["sold_out"] = True
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
    delivery: Delivery,
    flow: Flow,
    step: Step,
    shopper: Shopper,
    settings: Settings,
    *,
    carts: Mapping[str, Cart],
    orders: Mapping[str, Order],
    stock: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The template's data from the cart/order as it is now; NotSendable if moot.

    Cart items carry the latest stock known for their SKU (`stock`), which may be newer
    than the cart's own report.
    """
    context = flow.context or {}
    data: dict[str, Any] = {"shop_name": settings.shop_name, "help_url": settings.help_url}
    if shopper.display_name:
        data["shopper_name"] = shopper.display_name
    if "cart_id" in context:
        cart = carts.get(context["cart_id"])
        if cart is None or cart.state is not CartState.OPEN:
            state = cart.state.value if cart else "gone"
            raise NotSendable(Decision("cancel", f"cart {state}"))
        items = with_latest_stock(list(cart.data.get("items") or []), stock or {})
        if items and all(sold_out(i) for i in items):
            # Nothing in the cart can be bought: a reminder would only disappoint.
            raise NotSendable(Decision("skip", "condition: every item is sold out"))
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
        order = orders.get(context["order_id"])
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
        if sold_out({"stock": (stock or {}).get(item.get("sku"))}):
            # Restocked, then sold out again before the notice went out.
            raise NotSendable(Decision("skip", "condition: sold out again"))
        data["item"] = {k: v for k, v in item.items() if k != "sku" and v is not None}
    data.update(step.data)
    variant = next((v for v in step.variants if v.name == delivery.variant), None)
    if variant is not None:
        data.update(variant.data)
    return data


@dataclass
class BatchState:
    """Everything the batch's decisions need, read in a few set-based queries.

    The counters are updated as the batch decides, so a shopper's second delivery in the batch
    sees the first one; `tentative_*` remember which in-batch pushes a count relies on.
    """

    flows: dict[int, Flow]
    shoppers: dict[int, Shopper]
    flow_sent: dict[int, int]
    marketing_today: dict[int, int]
    with_staff: set[int]
    paused_until: datetime | None
    carts: dict[str, Cart]
    orders: dict[str, Order]
    stock: dict[str, int] = field(default_factory=dict)  # latest known stock per SKU
    new_links: dict[str, str] = field(default_factory=dict)  # link key → target to store
    tentative_by_flow: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    tentative_by_shopper: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class Push:
    """One message to push; a worker thread fills in `result` or `error`."""

    delivery_id: int
    shopper_id: int
    to: str
    message: Message
    marketing: bool
    result: SendResult | None = None
    error: LineError | None = None
    held: bool = False  # not tried: LINE's monthly limit came back earlier in this batch
    late: bool = False  # not tried: the batch's push window (DELIVERY_BATCH_SECONDS) is over
    started: bool = False  # handed to the gateway
    in_flight: bool = False  # still waiting for LINE's answer when the batch was written


@dataclass
class _Planned:
    """A claimed delivery with its decision; `depends_on` = in-batch pushes it assumed sent."""

    delivery: Delivery
    decision: Decision
    depends_on: tuple[int, ...] = ()


@dataclass
class DeliverySender:
    """Sends a batch of claimed deliveries: decide in memory, push on threads, write in bulk."""

    line: LineGateway
    clock: Clock
    settings: Settings
    book: ScenarioBook
    templates: TemplateRegistry
    postgres: bool = False  # lock the delivery (and shopper) rows; array parameters
    threads: int = 8
    # Pushes start only within this many seconds of the batch's start; the rest go back to
    # pending, due now. With the gateway's timeouts this bounds a batch below the lease.
    batch_seconds: float | None = None
    monotonic: Callable[[], float] = time.monotonic
    # How long the batch waits for pushes still in flight once every other push is done.
    straggler_grace: float = 2.0

    def send(self, session: Session, delivery_ids: Sequence[int]) -> dict[str, int]:
        """Handle a batch of claimed deliveries; returns how many ended in each state."""
        try:
            counts = self._send(session, delivery_ids)
            session.commit()
            return counts
        except Exception:
            session.rollback()
            log.exception("delivery batch crashed", extra={"count": len(delivery_ids)})
            # Left in `sending`: the dispatcher re-claims them after the lease, and the retry
            # key keeps a push that did get through from being shown twice.
            return {"error": len(delivery_ids)}

    def _send(self, session: Session, delivery_ids: Sequence[int]) -> dict[str, int]:
        # Counted from the start: waiting for another batch's shopper locks uses it up too.
        deadline = None if self.batch_seconds is None else self.monotonic() + self.batch_seconds
        claimed = self._claim(session, delivery_ids)
        counts: dict[str, int] = {}
        if len(claimed) < len(delivery_ids):
            # Finished already, or another worker holds them right now.
            counts["gone"] = len(delivery_ids) - len(claimed)
        if not claimed:
            return counts
        now = self.clock.now()
        state = self.load(session, claimed, now)
        planned = [self._plan(delivery, state, now) for delivery in claimed]
        pushes = [
            Push(
                delivery_id=p.delivery.id,
                shopper_id=p.delivery.shopper_id,
                to=state.shoppers[p.delivery.shopper_id].line_user_id,
                message=p.decision.message,
                marketing=self._marketing(p.delivery),
            )
            for p in planned
            if p.decision.action == "send" and p.decision.message is not None
        ]
        self._store_links(session, state.new_links, now)
        self.push_all(pushes, deadline)
        self._record(session, planned, {p.delivery_id: p for p in pushes}, state, now, counts)
        return counts

    # -- reading ------------------------------------------------------------------------------

    def _among(
        self, column: InstrumentedAttribute[Any], values: Iterable[Any]
    ) -> ColumnElement[bool]:
        """`column IN values`; on PostgreSQL `= ANY(array)`, one parameter whatever the count.

        The statement text then stays the same from batch to batch, so psycopg and the server
        can cache and prepare it; an IN list renders n placeholders and is parsed every time.
        """
        values = list(values)
        if self.postgres:
            return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
        return column.in_(values)

    def _claim(self, session: Session, delivery_ids: Sequence[int]) -> list[Delivery]:
        """The batch's rows still in `sending`, in due order (locked on PostgreSQL)."""
        query = (
            select(Delivery)
            .where(self._among(Delivery.id, delivery_ids), Delivery.state == DeliveryState.SENDING)
            .order_by(Delivery.due_at, Delivery.id)
        )
        if self.postgres:
            query = query.with_for_update(skip_locked=True)
        return list(session.scalars(query))

    def _marketing(self, delivery: Delivery) -> bool:
        if delivery.marketing:
            return True
        # The scenario as configured now: a row planned before its step became marketing
        # (it makes an offer) follows the current rule.
        scenario = self.book.get(delivery.scenario_id)
        if scenario is not None and any(
            s.id == delivery.step_id and s.marketing for s in scenario.steps
        ):
            return True
        try:
            return self.templates.is_marketing(delivery.template)
        except Exception:  # unknown template: the render fails later and says so
            return False

    def load(self, session: Session, claimed: Sequence[Delivery], now: datetime) -> BatchState:
        """Read what the decisions need for these deliveries, a query per kind of fact."""
        marketing_ids = sorted({d.shopper_id for d in claimed if self._marketing(d)})
        other_ids = sorted({d.shopper_id for d in claimed} - set(marketing_ids))
        shoppers: dict[int, Shopper] = {}
        if marketing_ids:
            query = (
                select(Shopper).where(self._among(Shopper.id, marketing_ids)).order_by(Shopper.id)
            )
            if self.postgres:
                # Two workers must not both decide a shopper is under the daily cap: the
                # second waits here, in id order so two batches cannot deadlock, and its
                # count below (a new snapshot per statement) then sees the first one's sends.
                query = query.with_for_update()
            shoppers.update((s.id, s) for s in session.scalars(query))
        if other_ids:
            shoppers.update(
                (s.id, s)
                for s in session.scalars(select(Shopper).where(self._among(Shopper.id, other_ids)))
            )
        flow_ids = sorted({d.flow_id for d in claimed})
        flows = {
            f.id: f for f in session.scalars(select(Flow).where(self._among(Flow.id, flow_ids)))
        }
        flow_sent = dict(
            session.execute(
                select(Delivery.flow_id, func.count())
                .where(
                    self._among(Delivery.flow_id, flow_ids), Delivery.state == DeliveryState.SENT
                )
                .group_by(Delivery.flow_id)
            ).all()
        )
        with_staff: set[int] = set()
        if marketing_ids:
            with_staff = set(
                session.scalars(
                    select(SupportTicket.shopper_id)
                    .where(
                        self._among(SupportTicket.shopper_id, marketing_ids),
                        SupportTicket.state != TicketState.RESOLVED,
                    )
                    .distinct()
                )
            )
        active = [f for f in flows.values() if f.state is FlowState.ACTIVE]
        cart_ids = sorted({f.context["cart_id"] for f in active if "cart_id" in (f.context or {})})
        order_ids = sorted(
            {f.context["order_id"] for f in active if "order_id" in (f.context or {})}
        )
        carts = (
            {
                c.cart_id: c
                for c in session.scalars(select(Cart).where(self._among(Cart.cart_id, cart_ids)))
            }
            if cart_ids
            else {}
        )
        orders = (
            {
                o.order_id: o
                for o in session.scalars(
                    select(Order).where(self._among(Order.order_id, order_ids))
                )
            }
            if order_ids
            else {}
        )
        skus = sorted(
            {str(sku) for cart in carts.values() for sku in cart.skus or []}
            | {str(f.context["item"].get("sku")) for f in active if "item" in (f.context or {})}
        )
        stock = (
            dict(
                session.execute(
                    select(ProductStock.sku, ProductStock.stock).where(
                        self._among(ProductStock.sku, skus)
                    )
                ).all()
            )
            if skus
            else {}
        )
        return BatchState(
            flows=flows,
            shoppers=shoppers,
            flow_sent=flow_sent,
            marketing_today=self._marketing_today(session, marketing_ids, now),
            with_staff=with_staff,
            paused_until=deliveries.marketing_paused_until(session, now),
            carts=carts,
            orders=orders,
            stock=stock,
        )

    def _marketing_today(
        self, session: Session, shopper_ids: Sequence[int], now: datetime
    ) -> dict[int, int]:
        """Marketing pushes per shopper since the start of the shop-local day (absent = none)."""
        if not shopper_ids:
            return {}
        rows = session.execute(
            select(Delivery.shopper_id, func.count())
            .where(
                self._among(Delivery.shopper_id, shopper_ids),
                Delivery.marketing.is_(True),
                Delivery.state == DeliveryState.SENT,
                Delivery.sent_at >= local_day_start(now, self.settings),
            )
            .group_by(Delivery.shopper_id)
        )
        return {shopper_id: count for shopper_id, count in rows}

    # -- deciding -----------------------------------------------------------------------------

    def _plan(self, delivery: Delivery, state: BatchState, now: datetime) -> _Planned:
        try:
            decision, depends_on = self.decide(delivery, state, now)
        except Exception as exc:
            # A data or code problem in one delivery must not hold up the rest of the batch
            # (left in `sending`, it would come back with them after every lease).
            log.exception("delivery decision crashed", extra={"delivery_id": delivery.id})
            decision, depends_on = Decision("fail", f"error: {type(exc).__name__}: {exc}"), ()
        if decision.action == "send":
            # Counted before the push: a later delivery of the same flow or shopper in this
            # batch is decided as if this one went out (and re-checked if it did not).
            state.flow_sent[delivery.flow_id] = state.flow_sent.get(delivery.flow_id, 0) + 1
            state.tentative_by_flow[delivery.flow_id].append(delivery.id)
            if self._marketing(delivery):
                shopper_id = delivery.shopper_id
                state.marketing_today[shopper_id] = state.marketing_today.get(shopper_id, 0) + 1
                state.tentative_by_shopper[shopper_id].append(delivery.id)
        return _Planned(delivery, decision, depends_on)

    def decide(
        self, delivery: Delivery, state: BatchState, now: datetime
    ) -> tuple[Decision, tuple[int, ...]]:
        """Every check that must pass right now before the message may go out.

        Returns the decision and the in-batch pushes it relies on: a skip for max_messages or
        a postponement for the daily cap that only holds if those earlier pushes went out.
        """
        flow = state.flows.get(delivery.flow_id)
        shopper = state.shoppers.get(delivery.shopper_id)
        if flow is None or shopper is None:
            return Decision("cancel", "flow or shopper removed"), ()
        if flow.state is FlowState.ENDED:
            return Decision("cancel", flow.end_reason or "flow ended"), ()
        if not shopper.is_following:
            return Decision("cancel", "unfollowed"), ()
        scenario = self.book.get(delivery.scenario_id)
        if scenario is None:
            return Decision("cancel", "scenario no longer configured"), ()
        try:
            step = scenario.step(delivery.step_id)
        except KeyError:
            return Decision("cancel", "step no longer configured"), ()
        marketing = self._marketing(delivery)
        if marketing and not shopper.marketing_opt_in:
            return Decision("cancel", "opted out"), ()
        if state.flow_sent.get(flow.id, 0) >= scenario.max_messages:
            return (
                Decision("skip", "max_messages: enough messages for this flow"),
                tuple(state.tentative_by_flow.get(flow.id, ())),
            )
        if delivery.expires_at is not None and now > delivery.expires_at:
            return Decision("skip", f"stale: was due {delivery.due_at:%Y-%m-%d %H:%M} UTC"), ()
        if marketing:
            later = self._marketing_wait(state, shopper, now)
            if later is not None:
                due, why, depends_on = later
                if delivery.expires_at is not None and due > delivery.expires_at:
                    return Decision("skip", f"{why}; would be stale by then"), depends_on
                return Decision("postpone", why, due_at=due), depends_on
        try:
            data = template_data(
                delivery,
                flow,
                step,
                shopper,
                self.settings,
                carts=state.carts,
                orders=state.orders,
                stock=state.stock,
            )
        except NotSendable as exc:
            return exc.decision, ()
        variant = next((v for v in step.variants if v.name == delivery.variant), None)
        try:
            # Checked against LINE's limits here: a message LINE refuses would fail with a
            # 400 on every retry. Too big, it is sent smaller or as text; never valid, it
            # fails now with LINE's reason.
            message, degraded = self.templates.render_for_line(
                delivery.template,
                data,
                variant=variant.template_variant if variant else None,
                link=self._linker(delivery, state.new_links),
                marketing=marketing,
            )
        except Exception as exc:  # TemplateError / TemplateDataError: fix the data, then retry
            return Decision("fail", f"render: {exc}"), ()
        if degraded is not None:
            log.warning(
                "message over LINE's limits: degraded",
                extra={"delivery_id": delivery.id, "reason": degraded},
            )
        return Decision("send", message=message), ()

    def _marketing_wait(
        self, state: BatchState, shopper: Shopper, now: datetime
    ) -> tuple[datetime, str, tuple[int, ...]] | None:
        if state.paused_until is not None:
            return state.paused_until, "postponed: LINE monthly limit reached", ()
        if shopper.id in state.with_staff:
            return now + STAFF_RECHECK, "postponed: chat is with staff", ()
        quiet = quiet_until(now, self.settings)
        if quiet is not None:
            return quiet, "postponed: quiet hours", ()
        if state.marketing_today.get(shopper.id, 0) >= self.settings.daily_marketing_cap:
            tomorrow = _local_midnight_after(now, self.settings)
            due = quiet_until(tomorrow, self.settings) or tomorrow
            return (
                due,
                "postponed: daily cap",
                tuple(state.tentative_by_shopper.get(shopper.id, ())),
            )
        return None

    def _linker(self, delivery: Delivery, stored: dict[str, str]) -> Callable[[str, str], str]:
        """The tracking wrapper for a delivery's links.

        The token carries its target while the link stays within LINE's URI limit; past it
        (a long product URL) it carries a key instead, and the target goes into `stored`
        to be kept in `tracked_links` with the batch.
        """
        secret = self.settings.secret_key.encode()
        base = self.settings.public_base_url.rstrip("/")
        content = f"{delivery.step_id}-{delivery.variant or 'default'}"
        expires = delivery.created_at + LINK_LIFETIME

        def link(url: str, _label: str) -> str:
            def tracked(stored_target: bool) -> str:
                token = sign_link(
                    secret,
                    url=url,
                    delivery_id=delivery.id,
                    shopper_id=delivery.shopper_id,
                    campaign=delivery.scenario_id,
                    content=content,
                    expires_at=expires,
                    stored=stored_target,
                )
                return f"{base}/r/{token}"

            inline = tracked(False)
            if len(inline) <= URI_MAX:
                return inline
            stored[link_key(url)] = url
            return tracked(True)

        return link

    def _store_links(self, session: Session, links: Mapping[str, str], now: datetime) -> None:
        """Keep the targets of this batch's long links (a key seen before is kept as it is)."""
        if not links:
            return
        dialect = postgresql if self.postgres else sqlite
        rows = [{"key": k, "url": u, "created_at": now} for k, u in sorted(links.items())]
        session.execute(dialect.insert(TrackedLink).on_conflict_do_nothing(), rows)

    # -- pushing ------------------------------------------------------------------------------

    def push_all(self, pushes: Sequence[Push], deadline: float | None = None) -> None:
        """Push on `threads` threads; one shopper's messages go out in order on one thread.

        The threads only talk HTTP through the gateway (thread-safe, keep-alive pool); every
        database read happened before and every write happens after. A push stuck on a slow
        answer ends at the gateway's read timeout and holds up only its own thread; after
        `deadline` (monotonic) no new push starts, so the batch ends in bounded time.
        """
        by_shopper: dict[int, list[Push]] = {}
        for push in pushes:
            by_shopper.setdefault(push.shopper_id, []).append(push)
        monthly_limit = threading.Event()
        stop = threading.Event()  # the batch has been written: start nothing more

        def send_group(group: list[Push]) -> None:
            for push in group:
                if stop.is_set() or (deadline is not None and self.monotonic() >= deadline):
                    push.late = True  # it and the rest of the group go on the next tick
                    continue
                if push.marketing and monthly_limit.is_set():
                    push.held = True  # LINE would refuse it too; it waits like the others
                    continue
                push.started = True
                try:
                    push.result = self.line.push(
                        push.to,
                        [push.message],
                        retry_key=retry_key_for("delivery", push.delivery_id),
                    )
                except LineError as exc:
                    push.error = exc
                    if isinstance(exc, LineMonthlyLimit):
                        monthly_limit.set()
                except Exception as exc:
                    # Unexpected (a gateway bug?): whether LINE got it is unknown, like a
                    # timeout, so it is retried with backoff under the same retry key.
                    log.exception("push crashed", extra={"delivery_id": push.delivery_id})
                    push.error = LineTimeout(f"push crashed: {type(exc).__name__}: {exc}")

        groups = list(by_shopper.values())
        threads = min(self.threads, len(groups))
        if threads <= 1:
            for group in groups:
                send_group(group)
            return
        # Each thread takes the next shopper when it is free: one task per thread rather
        # than a future per shopper, and a slow answer does not hold up a fixed share.
        todo = iter(groups)
        take = threading.Lock()
        drained = threading.Event()  # every shopper has been taken by a thread

        def work() -> None:
            while True:
                with take:
                    group = next(todo, None)
                if group is None:
                    drained.set()
                    return
                send_group(group)

        workers = [
            threading.Thread(target=work, name=f"push-{n}", daemon=True) for n in range(threads)
        ]
        for worker in workers:
            worker.start()
        drained.wait()
        # The batch does not wait out a push stuck on a slow LINE answer (up to the read
        # timeout) once the other threads are done: the rows still in flight stay `sending`
        # and come back after the lease, when the same retry key makes LINE answer 409 if
        # the first push got through. Without this, one stalled push in fifty made every
        # batch last the whole read timeout and a sender fell minutes behind.
        grace_ends = self.monotonic() + self.straggler_grace
        for worker in workers:
            worker.join(max(0.0, grace_ends - self.monotonic()))
        stop.set()
        for push in pushes:
            if push.result is None and push.error is None and not (push.held or push.late):
                if push.started:
                    push.in_flight = True
                else:
                    push.late = True

    # -- recording ----------------------------------------------------------------------------

    def _record(
        self,
        session: Session,
        planned: Sequence[_Planned],
        pushes: Mapping[int, Push],
        state: BatchState,
        now: datetime,
        counts: dict[str, int],
    ) -> None:
        """Write every outcome and the conversation log in bulk (the caller commits once)."""
        logged_at = self.clock.now()
        rows: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        monthly_limit: LineMonthlyLimit | None = None
        sent_any = False
        for plan in planned:
            delivery, decision = plan.delivery, plan.decision
            push = pushes.get(delivery.id)
            if push is None:
                if plan.depends_on and not all(
                    pushes[i].result is not None for i in plan.depends_on
                ):
                    # The cap or max_messages was only reached by counting a push that did
                    # not go out: decide again on the next tick, from what was recorded.
                    decision = Decision("postpone", RECHECK, due_at=now)
                rows.append(self._outcome(delivery, decision, now))
                continue
            if push.in_flight:
                counts["in_flight"] = counts.get("in_flight", 0) + 1
                continue  # left `sending`: the lease brings it back (see push_all)
            if push.held or push.late:
                outcome = (
                    Decision("postpone", "LINE monthly limit", now + MONTHLY_LIMIT_RECHECK)
                    if push.held
                    else Decision("postpone", OUT_OF_TIME, now)
                )
                rows.append(self._outcome(delivery, outcome, now))
                continue
            attempts = delivery.attempts + 1
            kind, text = message_summary(push.message)
            log_row = {
                "shopper_id": delivery.shopper_id,
                "direction": Direction.OUTBOUND,
                "sender": Sender.BOT,
                "message_type": kind,
                "text": text,
                "payload": push.message,
                "webhook_event_id": None,
                "delivery_id": delivery.id,
                "staff_id": None,
                "line_request_id": None,
                "status": "sent",
                "error": None,
                "created_at": logged_at,
            }
            if push.result is not None:
                result = push.result
                LINE_API_CALLS.labels("push", "duplicate" if result.duplicate else "ok").inc()
                if not result.duplicate:
                    messages.append({**log_row, "line_request_id": result.request_id})
                sent_any = True
                rows.append(
                    self._row(
                        delivery,
                        state=DeliveryState.SENT,
                        attempts=attempts,
                        sent_at=now,
                        line_request_id=result.request_id,
                        reason=ALREADY_ACCEPTED if result.duplicate else None,
                        claimed_at=None,
                        updated_at=now,
                    )
                )
                counts["sent"] = counts.get("sent", 0) + 1
                DELIVERIES.labels("sent").inc()
                continue
            exc = push.error
            assert exc is not None
            LINE_API_CALLS.labels(
                "push", str(exc.status) if exc.status else type(exc).__name__
            ).inc()
            messages.append({**log_row, "status": "failed", "error": str(exc)})
            if isinstance(exc, LineMonthlyLimit):
                monthly_limit = exc
                # Not the message's fault: its retries are not used up.
                outcome = Decision("postpone", "LINE monthly limit", now + MONTHLY_LIMIT_RECHECK)
                rows.append(self._outcome(delivery, outcome, now))
            elif isinstance(exc, LineClientError):
                outcome = Decision("fail", f"LINE {exc.status}: {exc}")
                rows.append(self._outcome(delivery, outcome, now, attempts=attempts))
            elif not exc.retriable or attempts >= MAX_ATTEMPTS:
                outcome = Decision("fail", f"gave up: {exc}")
                rows.append(self._outcome(delivery, outcome, now, attempts=attempts))
            else:
                wait = BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1]
                wait = max(wait, exc.retry_after or 0)
                reason = f"retrying: {type(exc).__name__} {exc.status or ''}".strip()
                outcome = Decision("postpone", reason, now + timedelta(seconds=wait))
                rows.append(self._outcome(delivery, outcome, now, attempts=attempts))
        for row in rows:
            key = row["b_state"].value
            if key != "sent":
                counts[key] = counts.get(key, 0) + 1
        session.execute(_WRITE_BACK, rows)
        if messages:
            session.execute(_LOG_MESSAGES, messages)
        if monthly_limit is not None:
            until = now + MONTHLY_LIMIT_RECHECK
            deliveries.pause_marketing(session, until, str(monthly_limit), now)
            MONTHLY_LIMIT.set(1)
            log.error(
                "LINE monthly message limit reached: marketing paused",
                extra={"until": until.isoformat()},
            )
        elif sent_any and state.paused_until is not None:
            # A push went through, so LINE's monthly limit no longer applies.
            deliveries.clear_marketing_pause(session)
            MONTHLY_LIMIT.set(0)
            log.warning("LINE accepts pushes again: marketing resumed")

    def _outcome(
        self, delivery: Delivery, decision: Decision, now: datetime, *, attempts: int | None = None
    ) -> dict[str, Any]:
        """The row values for a delivery that was not (or could not be) sent."""
        attempts = delivery.attempts if attempts is None else attempts
        if decision.action == "postpone":
            assert decision.due_at is not None
            return self._row(
                delivery,
                state=DeliveryState.PENDING,
                due_at=decision.due_at,
                reason=decision.reason,
                attempts=attempts,
                claimed_at=None,
                updated_at=now,
            )
        state = {
            "skip": DeliveryState.SKIPPED,
            "cancel": DeliveryState.CANCELLED,
            "fail": DeliveryState.FAILED,
        }[decision.action]
        DELIVERIES.labels(state.value).inc()
        log.info(
            "delivery not sent",
            extra={"delivery_id": delivery.id, "state": state.value, "reason": decision.reason},
        )
        return self._row(
            delivery,
            state=state,
            reason=decision.reason,
            attempts=attempts,
            claimed_at=None,
            updated_at=now,
        )

    @staticmethod
    def _row(delivery: Delivery, **changes: Any) -> dict[str, Any]:
        values = {
            "state": delivery.state,
            "due_at": delivery.due_at,
            "reason": delivery.reason,
            "attempts": delivery.attempts,
            "claimed_at": delivery.claimed_at,
            "sent_at": delivery.sent_at,
            "line_request_id": delivery.line_request_id,
            "updated_at": delivery.updated_at,
            **changes,
        }
        return {"b_id": delivery.id, **{f"b_{k}": v for k, v in values.items()}}
