"""The report's figures, read with set-based queries: each is one GROUP BY over the period's
rows, so the time grows with the number of groups, not with Python loops over deliveries.

A delivery belongs to the period by its planned time (`due_at`, in the shop's time zone);
its clicks and the orders attributed to it count with it, whenever they happened. Orders are
the ones the engine attributed when they were placed (`delivery_conversions`): an order
within the scenario's attribution window after a sent marketing message. The shop's API has
no refund event, so revenue is never reduced by refunds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    distinct,
    exists,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from bot.delivery.engine import HOLDOUT_REASON
from bot.models import (
    Click,
    Conversion,
    Delivery,
    DeliveryState,
    Flow,
    MessageInsight,
    Order,
    Shopper,
    VariantPromotion,
)

DEFAULT_DAYS = 30
REACTION_WINDOW = timedelta(hours=24)  # an opt-out or block this soon after a push counts


@dataclass(frozen=True)
class Period:
    """Whole days in the shop's time zone, first and last included."""

    first_day: date
    last_day: date
    tz: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(0), self.tz).astimezone(ZoneInfo("UTC"))

    @property
    def end(self) -> datetime:
        """The first instant after the period (exclusive)."""
        after = self.last_day + timedelta(days=1)
        return datetime.combine(after, time(0), self.tz).astimezone(ZoneInfo("UTC"))

    @property
    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=n) for n in range(count)]


def period_for(
    now: datetime, tz: ZoneInfo, first: date | None = None, last: date | None = None
) -> Period:
    """The period asked for; by default the last 30 days up to today (shop time)."""
    last = last or now.astimezone(tz).date()
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValueError("the period's first day is after its last day")
    return Period(first, last, tz)


# -- dialect helpers -------------------------------------------------------------------------


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _within(session: Session, later: Any, earlier: Any, seconds: float) -> ColumnElement[bool]:
    """earlier <= later <= earlier + seconds, on either database."""
    if _is_pg(session):
        span = func.make_interval(0, 0, 0, 0, 0, 0, seconds)
        return and_(later >= earlier, later <= earlier + span)
    gap = (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return and_(later >= earlier, gap <= seconds + 1e-3)


def _local_day(session: Session, column: Any, period: Period) -> Any:
    """The shop-local calendar day of a UTC timestamp, as text YYYY-MM-DD."""
    if _is_pg(session):
        return func.to_char(func.timezone(period.tz.key, column), "YYYY-MM-DD")
    # SQLite has no zone database: the zone's offset at the period's start (exact for Japan,
    # which has no daylight saving time).
    offset = period.start.astimezone(period.tz).utcoffset() or timedelta(0)
    return func.date(column, f"{int(offset.total_seconds()):+d} seconds")


def _reason_key(session: Session, column: Any) -> Any:
    """A skip or cancel reason without its details: `cooldown: …` → `cooldown`."""
    if _is_pg(session):
        return func.split_part(column, ":", 1)
    colon = func.instr(column, ":")
    return case((colon > 0, func.substr(column, 1, colon - 1)), else_=column)


def _conversion_deliveries(session: Session) -> Any:
    """(conversion id, delivery id) for every delivery an attributed order names."""
    if _is_pg(session):
        element = func.json_array_elements_text(Conversion.delivery_ids).table_valued("value")
        return (
            select(
                Conversion.id.label("conversion_id"),
                cast(element.c.value, Integer).label("delivery_id"),
            )
            .select_from(Conversion)
            .join(element, true())
            .subquery("conversion_deliveries")
        )
    element = func.json_each(Conversion.delivery_ids).table_valued("value")
    return (
        select(
            Conversion.id.label("conversion_id"),
            cast(element.c.value, Integer).label("delivery_id"),
        )
        .select_from(Conversion)
        .join(element, true())
        .subquery("conversion_deliveries")
    )


# -- the per step and variant figures --------------------------------------------------------

Key = tuple[str, str, str | None]  # scenario, step, variant


@dataclass
class Figures:
    """One line of the report: a scenario step's variant (or a total)."""

    planned: int = 0
    sent: int = 0
    pending: int = 0
    failed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    cancelled: dict[str, int] = field(default_factory=dict)
    clicked: int = 0
    converted: int = 0  # messages followed by an attributed order
    orders: int = 0
    revenue: int = 0
    revenue_sumsq: float = 0.0  # per-message revenue, squared and summed (for the A/B CI)
    opt_outs: int = 0
    blocks: int = 0
    step_index: int = 0


def delivery_states(session: Session, period: Period) -> dict[Key, Figures]:
    """Planned, sent, pending, failed, skipped and cancelled (by reason) per step variant."""
    reason = _reason_key(session, Delivery.reason).label("reason")
    rows = session.execute(
        select(
            Delivery.scenario_id,
            Delivery.step_id,
            Delivery.variant,
            Delivery.state,
            case(
                (Delivery.state.in_([DeliveryState.SKIPPED, DeliveryState.CANCELLED]), reason),
                else_=None,
            ).label("reason"),
            func.min(Delivery.step_index),
            func.count(),
        )
        .where(Delivery.due_at >= period.start, Delivery.due_at < period.end)
        .group_by(
            Delivery.scenario_id, Delivery.step_id, Delivery.variant, Delivery.state, "reason"
        )
    ).all()
    figures: dict[Key, Figures] = {}
    for scenario_id, step_id, variant, state, why, step_index, count in rows:
        line = figures.setdefault((scenario_id, step_id, variant), Figures())
        line.step_index = step_index
        line.planned += count
        state = DeliveryState(state)
        if state is DeliveryState.SENT:
            line.sent += count
        elif state in (DeliveryState.PENDING, DeliveryState.SENDING):
            line.pending += count
        elif state is DeliveryState.FAILED:
            line.failed += count
        else:
            bucket = line.skipped if state is DeliveryState.SKIPPED else line.cancelled
            key = (why or "").strip() or "unknown"
            bucket[key] = bucket.get(key, 0) + count
    return figures


def _in_period_sent(period: Period) -> ColumnElement[bool]:
    return and_(
        Delivery.due_at >= period.start,
        Delivery.due_at < period.end,
        Delivery.state == DeliveryState.SENT,
    )


def add_clicks(session: Session, period: Period, figures: dict[Key, Figures]) -> None:
    """Unique shoppers who tapped a tracked link of the step variant's messages."""
    who = func.coalesce(Click.shopper_id, Delivery.shopper_id)
    rows = session.execute(
        select(Delivery.scenario_id, Delivery.step_id, Delivery.variant, func.count(distinct(who)))
        .join(Click, Click.delivery_id == Delivery.id)
        .where(_in_period_sent(period))
        .group_by(Delivery.scenario_id, Delivery.step_id, Delivery.variant)
    ).all()
    for scenario_id, step_id, variant, count in rows:
        figures.setdefault((scenario_id, step_id, variant), Figures()).clicked = count


def add_orders(session: Session, period: Period, figures: dict[Key, Figures]) -> None:
    """Attributed orders and their revenue per step variant; each message counts an order it
    preceded (so the steps of one flow may share an order; the scenario totals do not)."""
    links = _conversion_deliveries(session)
    per_message = (
        select(
            Delivery.id.label("delivery_id"),
            Delivery.scenario_id.label("scenario_id"),
            Delivery.step_id.label("step_id"),
            Delivery.variant.label("variant"),
            func.count().label("orders"),
            func.coalesce(func.sum(Conversion.amount), 0).label("revenue"),
        )
        .join(links, links.c.delivery_id == Delivery.id)
        .join(Conversion, Conversion.id == links.c.conversion_id)
        .where(_in_period_sent(period))
        .group_by(Delivery.id, Delivery.scenario_id, Delivery.step_id, Delivery.variant)
        .subquery("per_message")
    )
    rows = session.execute(
        select(
            per_message.c.scenario_id,
            per_message.c.step_id,
            per_message.c.variant,
            func.count(),
            func.sum(per_message.c.orders),
            func.sum(per_message.c.revenue),
            func.sum(per_message.c.revenue * per_message.c.revenue),
        ).group_by(per_message.c.scenario_id, per_message.c.step_id, per_message.c.variant)
    ).all()
    for scenario_id, step_id, variant, converted, orders, revenue, sumsq in rows:
        line = figures.setdefault((scenario_id, step_id, variant), Figures())
        line.converted = int(converted)
        line.orders = int(orders or 0)
        line.revenue = int(revenue or 0)
        line.revenue_sumsq = float(sumsq or 0)


def add_reactions(session: Session, period: Period, figures: dict[Key, Figures]) -> None:
    """Shoppers who opted out of marketing, or blocked the account, within 24 h of a push.

    Read from the shopper's latest consent and follow state: a shopper who opted out and
    back in (or blocked and followed again) no longer counts.
    """
    seconds = REACTION_WINDOW.total_seconds()
    opted_out = and_(
        Shopper.marketing_opt_in.is_(False),
        Shopper.opt_in_changed_at.is_not(None),
        _within(session, Shopper.opt_in_changed_at, Delivery.sent_at, seconds),
    )
    blocked = and_(
        Shopper.blocked_at.is_not(None),
        _within(session, Shopper.blocked_at, Delivery.sent_at, seconds),
    )
    rows = session.execute(
        select(
            Delivery.scenario_id,
            Delivery.step_id,
            Delivery.variant,
            func.count(distinct(case((opted_out, Shopper.id), else_=None))),
            func.count(distinct(case((blocked, Shopper.id), else_=None))),
        )
        .join(Shopper, Shopper.id == Delivery.shopper_id)
        .where(_in_period_sent(period), or_(opted_out, blocked))
        .group_by(Delivery.scenario_id, Delivery.step_id, Delivery.variant)
    ).all()
    for scenario_id, step_id, variant, opt_outs, blocks in rows:
        line = figures.setdefault((scenario_id, step_id, variant), Figures())
        line.opt_outs, line.blocks = int(opt_outs), int(blocks)


# -- totals that must not double count -------------------------------------------------------


def scenario_orders(session: Session, period: Period) -> dict[str, tuple[int, int]]:
    """(orders, revenue) per scenario: each attributed order once, whichever steps it
    followed; an order after messages of two scenarios counts for both."""
    links = _conversion_deliveries(session)
    distinct_orders = (
        select(Delivery.scenario_id.label("scenario_id"), Conversion.id.label("conversion_id"))
        .join(links, links.c.delivery_id == Delivery.id)
        .join(Conversion, Conversion.id == links.c.conversion_id)
        .where(_in_period_sent(period))
        .distinct()
        .subquery("distinct_orders")
    )
    rows = session.execute(
        select(
            distinct_orders.c.scenario_id,
            func.count(),
            func.coalesce(func.sum(Conversion.amount), 0),
        )
        .join(Conversion, Conversion.id == distinct_orders.c.conversion_id)
        .group_by(distinct_orders.c.scenario_id)
    ).all()
    return {scenario_id: (int(n), int(revenue)) for scenario_id, n, revenue in rows}


def account_orders(session: Session, period: Period) -> tuple[int, int]:
    """(orders, revenue) attributed to any message of the period, each order once."""
    links = _conversion_deliveries(session)
    ids = (
        select(links.c.conversion_id)
        .join(Delivery, Delivery.id == links.c.delivery_id)
        .where(_in_period_sent(period))
        .distinct()
        .subquery("period_orders")
    )
    n, revenue = session.execute(
        select(func.count(), func.coalesce(func.sum(Conversion.amount), 0)).join(
            ids, ids.c.conversion_id == Conversion.id
        )
    ).one()
    return int(n), int(revenue)


# -- flows: abandoned carts, recoveries and the holdout --------------------------------------


@dataclass(frozen=True)
class FlowOutcome:
    """Flows of a scenario started in the period, and how many ended in an order in time."""

    flows: int
    ordered: int

    @property
    def rate(self) -> float | None:
        return self.ordered / self.flows if self.flows else None


def _ordered_in_time(session: Session, horizon: timedelta) -> ColumnElement[bool]:
    """The flow's shopper placed an order after the flow's start point and within
    `horizon` of it (the order that started a post-purchase flow does not count)."""
    # One IN list, not an OR: PostgreSQL probes the customer_key index once per flow.
    shopper_key = Order.customer_key.in_(
        [literal("m:") + Shopper.member_id, literal("u:") + Shopper.line_user_id]
    )
    return exists(
        select(Order.id)
        .join(Shopper, shopper_key)
        .where(
            Shopper.id == Flow.shopper_id,
            Order.placed_at.is_not(None),
            Order.placed_at > Flow.anchor_at,
            _within(session, Order.placed_at, Flow.anchor_at, horizon.total_seconds()),
            Flow.subject != literal("order:") + Order.order_id,
        )
    )


def flow_outcomes(
    session: Session, period: Period, scenario_id: str, horizon: timedelta
) -> dict[bool, FlowOutcome]:
    """Treated (False) and holdout (True) flows of a scenario with planned messages, and how
    many of them ended in an order within the horizon."""
    in_holdout = exists(
        select(Delivery.id).where(Delivery.flow_id == Flow.id, Delivery.reason == HOLDOUT_REASON)
    )
    planned = exists(select(Delivery.id).where(Delivery.flow_id == Flow.id))
    group = case((in_holdout, 1), else_=0).label("holdout")
    ordered = case((_ordered_in_time(session, horizon), 1), else_=0)
    rows = session.execute(
        select(group, func.count(), func.coalesce(func.sum(ordered), 0))
        .where(
            Flow.scenario_id == scenario_id,
            Flow.started_at >= period.start,
            Flow.started_at < period.end,
            planned,
        )
        .group_by(group)
    ).all()
    outcome = {False: FlowOutcome(0, 0), True: FlowOutcome(0, 0)}
    for holdout, flows, n_ordered in rows:
        outcome[bool(holdout)] = FlowOutcome(int(flows), int(n_ordered))
    return outcome


def abandoned_carts(
    session: Session, period: Period, scenario_ids: Sequence[str], horizon: timedelta
) -> FlowOutcome:
    """Carts abandoned in the period (flows of the cart scenarios, holdout included) and how
    many were followed by an order within the horizon."""
    if not scenario_ids:
        return FlowOutcome(0, 0)
    ordered = case((_ordered_in_time(session, horizon), 1), else_=0)
    flows, n_ordered = session.execute(
        select(func.count(distinct(Flow.subject)), func.coalesce(func.sum(ordered), 0)).where(
            Flow.scenario_id.in_(list(scenario_ids)),
            Flow.started_at >= period.start,
            Flow.started_at < period.end,
        )
    ).one()
    return FlowOutcome(int(flows), int(n_ordered))


# -- opens from LINE's insight figures -------------------------------------------------------


@dataclass(frozen=True)
class Opens:
    """Unique impressions of a unit summed over the period's days."""

    known: int | None  # None: no day had a figure
    days: int  # days LINE answered for
    hidden_days: int  # days LINE hid (fewer than 20 users)


def opens_by_unit(session: Session, period: Period, units: Iterable[str]) -> dict[str, Opens]:
    """LINE's unique impressions per aggregation unit over the period's days."""
    wanted = sorted(set(units))
    if not wanted:
        return {}
    rows = session.execute(
        select(
            MessageInsight.unit,
            func.count(),
            func.count(MessageInsight.unique_impressions),
            func.sum(MessageInsight.unique_impressions),
        )
        .where(
            MessageInsight.unit.in_(wanted),
            MessageInsight.day >= period.first_day,
            MessageInsight.day <= period.last_day,
        )
        .group_by(MessageInsight.unit)
    ).all()
    return {
        unit: Opens(int(total) if known else None, int(days), int(days) - int(known))
        for unit, days, known, total in rows
    }


# -- daily series ----------------------------------------------------------------------------


def daily(session: Session, period: Period) -> dict[str, dict[str, dict[str, int]]]:
    """scenario → local day → {sent, clicked, revenue}: messages by the day they went out,
    unique clicking shoppers by the day they clicked, attributed revenue by order day."""
    out: dict[str, dict[str, dict[str, int]]] = {}

    def put(scenario_id: str, day: str, key: str, value: int) -> None:
        out.setdefault(scenario_id, {}).setdefault(day, {"sent": 0, "clicked": 0, "revenue": 0})
        out[scenario_id][day][key] += value

    sent_day = _local_day(session, Delivery.sent_at, period)
    for scenario_id, day, n in session.execute(
        select(Delivery.scenario_id, sent_day, func.count())
        .where(_in_period_sent(period))
        .group_by(Delivery.scenario_id, sent_day)
    ):
        put(scenario_id, str(day), "sent", int(n))
    click_day = _local_day(session, Click.clicked_at, period)
    who = func.coalesce(Click.shopper_id, Delivery.shopper_id)
    for scenario_id, day, n in session.execute(
        select(Delivery.scenario_id, click_day, func.count(distinct(who)))
        .join(Click, Click.delivery_id == Delivery.id)
        .where(_in_period_sent(period))
        .group_by(Delivery.scenario_id, click_day)
    ):
        put(scenario_id, str(day), "clicked", int(n))
    links = _conversion_deliveries(session)
    per_order = (
        select(Delivery.scenario_id.label("scenario_id"), Conversion.id.label("conversion_id"))
        .join(links, links.c.delivery_id == Delivery.id)
        .join(Conversion, Conversion.id == links.c.conversion_id)
        .where(_in_period_sent(period))
        .distinct()
        .subquery("per_order")
    )
    order_day = _local_day(session, Conversion.ordered_at, period)
    for scenario_id, day, revenue in session.execute(
        select(per_order.c.scenario_id, order_day, func.coalesce(func.sum(Conversion.amount), 0))
        .join(Conversion, Conversion.id == per_order.c.conversion_id)
        .group_by(per_order.c.scenario_id, order_day)
    ):
        put(scenario_id, str(day), "revenue", int(revenue))
    return out


# -- this month's messages -------------------------------------------------------------------


def sent_between(session: Session, start: datetime, end: datetime) -> int:
    """Pushes the engine sent in [start, end)."""
    return int(
        session.scalar(
            select(func.count()).where(
                Delivery.state == DeliveryState.SENT,
                Delivery.sent_at >= start,
                Delivery.sent_at < end,
            )
        )
        or 0
    )


def promotions(session: Session) -> dict[tuple[str, str], VariantPromotion]:
    """The promoted winners by (scenario, step)."""
    return {(p.scenario_id, p.step_id): p for p in session.scalars(select(VariantPromotion))}


__all__ = [
    "DEFAULT_DAYS",
    "Figures",
    "FlowOutcome",
    "Opens",
    "Period",
    "abandoned_carts",
    "account_orders",
    "add_clicks",
    "add_orders",
    "add_reactions",
    "daily",
    "delivery_states",
    "flow_outcomes",
    "opens_by_unit",
    "period_for",
    "promotions",
    "scenario_orders",
    "sent_between",
]
