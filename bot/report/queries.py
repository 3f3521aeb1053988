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
    Date,
    Integer,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    select,
    text,
    true,
    tuple_,
    union,
)
from sqlalchemy.orm import Session

from bot.delivery.engine import HOLDOUT_REASON
from bot.delivery.insights import ROLLING_DAYS, UnitTotal, period_insights, unit_totals
from bot.models import (
    AbandonmentSurvey,
    Click,
    ConsentRecord,
    Conversion,
    Delivery,
    DeliveryState,
    Flow,
    FollowEvent,
    Order,
    Shopper,
    VariantPromotion,
)

DEFAULT_DAYS = ROLLING_DAYS  # the days the insight job asks LINE for as one period
REACTION_WINDOW = timedelta(hours=24)  # an opt-out or block this soon after a push counts


@dataclass(frozen=True)
class Period:
    """Whole days in the shop's time zone, first and last included."""

    first_day: date
    last_day: date
    tz: ZoneInfo
    # How long after the period an order can still be attributed to its messages (the
    # longest attribution window of the scenarios).
    order_horizon: timedelta = timedelta(days=31)

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


def prepare(session: Session) -> None:
    """Session settings for the report's queries (call in the report's transaction).

    PostgreSQL's JIT compiler judges these GROUP BYs over a million rows worth compiling and
    spends seconds doing so (measured: 3.1 s of a 6.9 s query on the bench data) to save
    milliseconds; the report's queries are faster without it.

    A larger work_mem lets the planner hash the one pass over the period's deliveries: it
    cannot tell that the send day and the reason make only a few hundred groups, and
    with the default it sorts the whole period (spilling to disk) instead.
    """
    if _is_pg(session):
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _within(session: Session, later: Any, earlier: Any, seconds: Any) -> ColumnElement[bool]:
    """earlier <= later <= earlier + seconds, on either database."""
    if _is_pg(session):
        span = func.make_interval(0, 0, 0, 0, 0, 0, seconds)
        return and_(later >= earlier, later <= earlier + span)
    gap = (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return and_(later >= earlier, gap <= seconds + 1e-3)


def _local_day(session: Session, column: Any, period: Period) -> Any:
    """The shop-local calendar day of a UTC timestamp (a date on PostgreSQL, text on
    SQLite; `daily` reads both as YYYY-MM-DD)."""
    if _is_pg(session):
        # A cast, not to_char: per row it costs a fraction (measured on 260,000 rows).
        return cast(func.timezone(period.tz.key, column), Date)
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


def _conversion_deliveries(session: Session, period: Period) -> Any:
    """(conversion id, delivery id) for every delivery an attributed order names, of the
    orders that can belong to the period's messages (placed after its start and at most the
    longest attribution window after its end)."""
    if _is_pg(session):
        element = func.json_array_elements_text(Conversion.delivery_ids).table_valued("value")
    else:
        element = func.json_each(Conversion.delivery_ids).table_valued("value")
    return (
        select(
            Conversion.id.label("conversion_id"),
            cast(element.c.value, Integer).label("delivery_id"),
        )
        .select_from(Conversion)
        .join(element, true())
        .where(
            Conversion.ordered_at >= period.start,
            Conversion.ordered_at <= period.end + period.order_horizon,
        )
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


def delivery_states(
    session: Session, period: Period, sent_days: dict[tuple[str, str], int] | None = None
) -> dict[Key, Figures]:
    """Planned, sent, pending, failed, skipped and cancelled (by reason) per step variant;
    with `sent_days`, also the sent messages by (scenario, shop-local day they went out).

    One pass over the period's rows, read from the covering index alone on PostgreSQL
    (ix_deliveries_due_report carries the reason too): the reason is only looked at for
    skipped and cancelled rows, the send day only for sent ones, so the groups stay few.
    """
    in_period = and_(Delivery.due_at >= period.start, Delivery.due_at < period.end)
    ended = (DeliveryState.SKIPPED, DeliveryState.CANCELLED)
    # Labels no column has: PostgreSQL reads a GROUP BY name as an input column first, and
    # grouping by the whole reason text would make a group of every "ordered: O123".
    reason = case(
        (Delivery.state.in_(ended), _reason_key(session, Delivery.reason)), else_=None
    ).label("reason_key")
    sent_day = case(
        (Delivery.state == DeliveryState.SENT, _local_day(session, Delivery.sent_at, period)),
        else_=None,
    ).label("sent_day")
    rows = session.execute(
        select(
            Delivery.scenario_id,
            Delivery.step_id,
            Delivery.variant,
            Delivery.state,
            reason,
            sent_day,
            func.min(Delivery.step_index),
            func.count(),
        )
        .where(in_period)
        .group_by(
            Delivery.scenario_id,
            Delivery.step_id,
            Delivery.variant,
            Delivery.state,
            reason,
            sent_day,
        )
    ).all()
    figures: dict[Key, Figures] = {}
    for scenario_id, step_id, variant, state, why, day, step_index, count in rows:
        line = figures.setdefault((scenario_id, step_id, variant), Figures())
        line.step_index = step_index
        line.planned += count
        state = DeliveryState(state)
        if state is DeliveryState.SENT:
            line.sent += count
            if sent_days is not None and day is not None:
                key = (scenario_id, str(day))
                sent_days[key] = sent_days.get(key, 0) + count
        elif state in (DeliveryState.PENDING, DeliveryState.SENDING):
            line.pending += count
        elif state is DeliveryState.FAILED:
            line.failed += count
        elif state in ended:
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


def click_counts(
    session: Session, period: Period
) -> tuple[dict[Key, int], dict[tuple[str, str], int]]:
    """Unique shoppers who tapped a tracked link of the period's sent messages: per step
    variant, and per (scenario, shop-local day of the click).

    On PostgreSQL both come from one join (GROUPING SETS); SQLite has none, so it joins twice.
    """
    who = func.coalesce(Click.shopper_id, Delivery.shopper_id)
    day = _local_day(session, Click.clicked_at, period)
    by_key: dict[Key, int] = {}
    by_day: dict[tuple[str, str], int] = {}
    if _is_pg(session):
        rows = session.execute(
            select(
                Delivery.scenario_id,
                Delivery.step_id,
                Delivery.variant,
                day,
                func.grouping(day),
                func.count(distinct(who)),
            )
            .join(Click, Click.delivery_id == Delivery.id)
            .where(_in_period_sent(period))
            .group_by(
                func.grouping_sets(
                    tuple_(Delivery.scenario_id, Delivery.step_id, Delivery.variant),
                    tuple_(Delivery.scenario_id, day),
                )
            )
        ).all()
        for scenario_id, step_id, variant, click_day, per_step, count in rows:
            if per_step:
                by_key[(scenario_id, step_id, variant)] = int(count)
            else:
                by_day[(scenario_id, str(click_day))] = int(count)
        return by_key, by_day
    for scenario_id, step_id, variant, count in session.execute(
        select(Delivery.scenario_id, Delivery.step_id, Delivery.variant, func.count(distinct(who)))
        .join(Click, Click.delivery_id == Delivery.id)
        .where(_in_period_sent(period))
        .group_by(Delivery.scenario_id, Delivery.step_id, Delivery.variant)
    ):
        by_key[(scenario_id, step_id, variant)] = int(count)
    for scenario_id, click_day, count in session.execute(
        select(Delivery.scenario_id, day, func.count(distinct(who)))
        .join(Click, Click.delivery_id == Delivery.id)
        .where(_in_period_sent(period))
        .group_by(Delivery.scenario_id, day)
    ):
        by_day[(scenario_id, str(click_day))] = int(count)
    return by_key, by_day


def add_clicks(session: Session, period: Period, figures: dict[Key, Figures]) -> None:
    """Unique shoppers who tapped a tracked link of the step variant's messages."""
    for key, count in click_counts(session, period)[0].items():
        figures.setdefault(key, Figures()).clicked = count


@dataclass
class OrderFigures:
    """The period's attributed orders, read once and summed every way the report needs."""

    # per step variant: messages followed by an order, orders, revenue, per-message revenue²
    by_key: dict[Key, tuple[int, int, int, float]]
    by_scenario: dict[str, tuple[int, int]]  # (orders, revenue), each order once
    account: tuple[int, int]  # (orders, revenue), each order once
    by_day: dict[tuple[str, str], int]  # (scenario, shop-local order day) → revenue


def order_figures(session: Session, period: Period) -> OrderFigures:
    """One join of the attributed orders with the period's sent messages they name, one row
    per (order, message) link; the few thousand links are summed here in four ways."""
    links = _conversion_deliveries(session, period)
    order_day = _local_day(session, Conversion.ordered_at, period)
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.scenario_id,
            Delivery.step_id,
            Delivery.variant,
            Conversion.id,
            Conversion.amount,
            order_day,
        )
        .join(links, links.c.delivery_id == Delivery.id)
        .join(Conversion, Conversion.id == links.c.conversion_id)
        .where(_in_period_sent(period))
    ).all()
    per_message: dict[int, tuple[Key, int, int]] = {}
    amounts: dict[int, int | None] = {}
    days: dict[int, str] = {}
    scenario_orders_: set[tuple[str, int]] = set()
    for delivery_id, scenario_id, step_id, variant, conversion_id, amount, day in rows:
        key = (scenario_id, step_id, variant)
        _, n, revenue = per_message.get(delivery_id, (key, 0, 0))
        per_message[delivery_id] = (key, n + 1, revenue + (amount or 0))
        amounts[conversion_id] = amount
        days[conversion_id] = str(day)
        scenario_orders_.add((scenario_id, conversion_id))
    by_key: dict[Key, tuple[int, int, int, float]] = {}
    for key, n, revenue in per_message.values():
        converted, orders, total, sumsq = by_key.get(key, (0, 0, 0, 0.0))
        by_key[key] = (converted + 1, orders + n, total + revenue, sumsq + float(revenue) ** 2)
    by_scenario: dict[str, tuple[int, int]] = {}
    by_day: dict[tuple[str, str], int] = {}
    for scenario_id, conversion_id in scenario_orders_:
        n, revenue = by_scenario.get(scenario_id, (0, 0))
        amount = amounts[conversion_id] or 0
        by_scenario[scenario_id] = (n + 1, revenue + amount)
        day_key = (scenario_id, days[conversion_id])
        by_day[day_key] = by_day.get(day_key, 0) + amount
    account = (len(amounts), sum(a or 0 for a in amounts.values()))
    return OrderFigures(by_key, by_scenario, account, by_day)


def add_orders(
    session: Session,
    period: Period,
    figures: dict[Key, Figures],
    orders: OrderFigures | None = None,
) -> None:
    """Attributed orders and their revenue per step variant; each message counts an order it
    preceded (so the steps of one flow may share an order; the scenario totals do not)."""
    orders = orders or order_figures(session, period)
    for key, (converted, n, revenue, sumsq) in orders.by_key.items():
        line = figures.setdefault(key, Figures())
        line.converted = converted
        line.orders = n
        line.revenue = revenue
        line.revenue_sumsq = sumsq


def add_reactions(
    session: Session, period: Period, figures: dict[Key, Figures]
) -> dict[tuple[Key, str], int]:
    """Shoppers who opted out of marketing on the message's channel, or blocked the account
    (LINE messages), within 24 h of a message; returns the opt-outs per step variant and
    channel as well.

    An opt-out is read from the consent history: a member's withdrawal on the channel counts
    even if consent was given again later. A LINE shopper who is not a member has no history;
    their present flag is read, so one who opted out and back in does not count. Blocks are
    read from the follow history (a block counts even if the shopper followed again).

    Reactions are few and messages many: each kind is read from its own rows in the window
    and joined to the shopper's messages sent at most 24 h before (by shopper and send time),
    never tested row by row over the period's messages.
    """
    seconds = REACTION_WINDOW.total_seconds()
    first, last = period.start, period.end + REACTION_WINDOW
    key = (Delivery.scenario_id, Delivery.step_id, Delivery.variant)

    def before(at: Any, shopper_id: Any, channel: Any) -> ColumnElement[bool]:
        """The period's sent messages on `channel` that `at` came within 24 h of."""
        return and_(
            Delivery.shopper_id == shopper_id,
            Delivery.channel == channel,
            _within(session, at, Delivery.sent_at, seconds),
            _in_period_sent(period),
        )

    withdrawals = [
        select(*key, Delivery.channel, Shopper.id.label("shopper"))
        .select_from(ConsentRecord)
        .join(Shopper, member == ConsentRecord.member_id)
        .join(Delivery, before(ConsentRecord.occurred_at, Shopper.id, ConsentRecord.channel))
        .where(
            ConsentRecord.purpose == "marketing",
            ConsentRecord.granted.is_(False),
            ConsentRecord.occurred_at >= first,
            ConsentRecord.occurred_at <= last,
        )
        for member in (Shopper.member_id, Shopper.contact_member_id)
    ]
    flag = (
        select(*key, Delivery.channel, Shopper.id.label("shopper"))
        .select_from(Shopper)
        .join(Delivery, before(Shopper.opt_in_changed_at, Shopper.id, "line"))
        .where(
            Shopper.marketing_opt_in.is_(False),
            Shopper.opt_in_changed_at >= first,
            Shopper.opt_in_changed_at <= last,
        )
    )
    opt_outs = union(*withdrawals, flag).subquery()
    history = (
        select(*key, FollowEvent.shopper_id.label("shopper"))
        .select_from(FollowEvent)
        .join(Delivery, before(FollowEvent.at, FollowEvent.shopper_id, "line"))
        .where(FollowEvent.following.is_(False), FollowEvent.at >= first, FollowEvent.at <= last)
    )
    # Blocks from before the follow history was kept: the present state.
    present = (
        select(*key, Shopper.id.label("shopper"))
        .select_from(Shopper)
        .join(Delivery, before(Shopper.blocked_at, Shopper.id, "line"))
        .where(Shopper.blocked_at >= first, Shopper.blocked_at <= last)
    )
    blocks = union(history, present).subquery()

    def counted(rows: Any, *extra: str) -> Any:
        columns = [rows.c.scenario_id, rows.c.step_id, rows.c.variant, *(rows.c[e] for e in extra)]
        return session.execute(
            select(*columns, func.count(distinct(rows.c.shopper))).group_by(*columns)
        ).all()

    for *k, n in counted(opt_outs):
        figures.setdefault(tuple(k), Figures()).opt_outs = int(n)
    for *k, n in counted(blocks):
        figures.setdefault(tuple(k), Figures()).blocks = int(n)
    return {((s, t, v), channel): int(n) for s, t, v, channel, n in counted(opt_outs, "channel")}


# -- totals that must not double count -------------------------------------------------------


def scenario_orders(session: Session, period: Period) -> dict[str, tuple[int, int]]:
    """(orders, revenue) per scenario: each attributed order once, whichever steps it
    followed; an order after messages of two scenarios counts for both."""
    return order_figures(session, period).by_scenario


def account_orders(session: Session, period: Period) -> tuple[int, int]:
    """(orders, revenue) attributed to any message of the period, each order once."""
    return order_figures(session, period).account


# -- flows: abandoned carts, recoveries and the holdout --------------------------------------


@dataclass(frozen=True)
class FlowOutcome:
    """Flows of a scenario started in the period, and how many ended in an order in time."""

    flows: int
    ordered: int

    @property
    def rate(self) -> float | None:
        return self.ordered / self.flows if self.flows else None


@dataclass(frozen=True)
class FlowCounts:
    """The period's flows of one scenario: treated, held out, and ended by a cooldown before
    anything was planned; each with how many were followed by an order in time."""

    treated: FlowOutcome
    holdout: FlowOutcome
    cooldown: FlowOutcome

    @property
    def all(self) -> FlowOutcome:
        parts = (self.treated, self.holdout, self.cooldown)
        return FlowOutcome(sum(p.flows for p in parts), sum(p.ordered for p in parts))


def _horizon_seconds(horizons: dict[str, timedelta]) -> Any:
    """Each flow's horizon in seconds, by its scenario."""
    return case(
        {sid: h.total_seconds() for sid, h in horizons.items()},
        value=Flow.scenario_id,
        else_=0.0,
    )


def _in_period(period: Period, scenario_ids: Sequence[str]) -> ColumnElement[bool]:
    return and_(
        Flow.scenario_id.in_(list(scenario_ids)),
        Flow.started_at >= period.start,
        Flow.started_at < period.end,
    )


def _ordered_flows(session: Session, period: Period, horizons: dict[str, timedelta]) -> Any:
    """Ids of the period's flows whose shopper placed an order after the flow's start point
    and within its scenario's horizon of it (the order that started a post-purchase flow
    does not count).

    Orders name their customer by member id or LINE user id ("m:…" / "u:…"): one branch
    for each, read from the orders side. The orders of the period are few next to its flows,
    so each finds its shopper by the unique id and the shopper's flows by their index,
    instead of hashing every flow and every shopper of the period.
    """
    seconds = _horizon_seconds(horizons)
    branches = []
    for prefix, column in (("m:", Shopper.member_id), ("u:", Shopper.line_user_id)):
        branches.append(
            select(Flow.id)
            .select_from(Order)
            .join(
                Shopper,
                and_(
                    func.substr(Order.customer_key, 1, len(prefix)) == prefix,
                    column == func.substr(Order.customer_key, len(prefix) + 1),
                ),
            )
            .join(Flow, Flow.shopper_id == Shopper.id)
            .where(
                _in_period(period, list(horizons)),
                Order.placed_at >= period.start,
                Order.placed_at > Flow.anchor_at,
                _within(session, Order.placed_at, Flow.anchor_at, seconds),
                Flow.subject != literal("order:") + Order.order_id,
            )
        )
    return union(*branches).subquery("ordered_flows")


def flow_counts(
    session: Session, period: Period, horizons: dict[str, timedelta]
) -> dict[str, FlowCounts]:
    """Per scenario (given with its horizon: how long after a flow's start its messages can
    still earn an order), the period's flows by group and how many ended in an order.

    The holdout comparison leaves out flows a cooldown ended before anything was planned: a
    held-out shopper is never reminded, so never meets the cooldown.
    """
    if not horizons:
        return {}
    ordered = _ordered_flows(session, period, horizons)
    group = case(
        (Flow.end_reason == HOLDOUT_REASON, "holdout"),
        (Flow.end_reason.startswith("cooldown"), "cooldown"),
        else_="treated",
    ).label("flow_group")
    hit = case((Flow.id.in_(select(ordered.c.id)), 1), else_=0)
    rows = session.execute(
        select(Flow.scenario_id, group, func.count(), func.coalesce(func.sum(hit), 0))
        .where(_in_period(period, list(horizons)))
        .group_by(Flow.scenario_id, group)
    ).all()
    found: dict[str, dict[str, FlowOutcome]] = {}
    for scenario_id, name, flows, n_ordered in rows:
        found.setdefault(scenario_id, {})[name] = FlowOutcome(int(flows), int(n_ordered))
    empty = FlowOutcome(0, 0)
    return {
        sid: FlowCounts(
            found.get(sid, {}).get("treated", empty),
            found.get(sid, {}).get("holdout", empty),
            found.get(sid, {}).get("cooldown", empty),
        )
        for sid in horizons
    }


# -- opens from LINE's insight figures -------------------------------------------------------


LINE_DAY_OFFSET = timedelta(hours=9)  # LINE counts its days in UTC+9


@dataclass(frozen=True)
class Opens:
    """A unit's opens in the period: LINE's figure for the period itself (each shopper once),
    when the insight job fetched exactly these days, else the daily figures summed."""

    total: UnitTotal
    people: bool  # True: each shopper once; False: person-days (daily uniques summed)


def opens_by_unit(session: Session, period: Period, units: Iterable[str]) -> dict[str, Opens]:
    """LINE's unique impressions per aggregation unit over the period's days.

    The job keeps each step's figure for the days up to yesterday (the default period's, as
    today has no figures yet): a period that starts on the same day and ends on that
    yesterday or on today reads it."""
    units = list(units)
    totals = unit_totals(session, units, period.first_day, period.last_day)
    out = {unit: Opens(figures.opens, False) for unit, figures in totals.items()}
    if period.start.astimezone(period.tz).utcoffset() != LINE_DAY_OFFSET:
        return out  # the shop's days are not LINE's: only whole days can be summed
    for unit, row in period_insights(session, units).items():
        if row.first_day == period.first_day and 0 <= (period.last_day - row.last_day).days <= 1:
            days = (row.last_day - row.first_day).days + 1
            hidden = row.unique_impressions is None
            out[unit] = Opens(UnitTotal(row.unique_impressions, days, days if hidden else 0), True)
    return out


# -- daily series ----------------------------------------------------------------------------


def daily(
    session: Session,
    period: Period,
    sent_days: dict[tuple[str, str], int] | None = None,
    clicks: dict[tuple[str, str], int] | None = None,
    orders: OrderFigures | None = None,
) -> dict[str, dict[str, dict[str, int]]]:
    """scenario → local day → {sent, clicked, revenue}: messages by the day they went out,
    unique clicking shoppers by the day they clicked, attributed revenue by order day.

    The parts already read for the rest of the report can be passed in."""
    if sent_days is None:
        sent_days = {}
        delivery_states(session, period, sent_days)
    if clicks is None:
        clicks = click_counts(session, period)[1]
    if orders is None:
        orders = order_figures(session, period)
    out: dict[str, dict[str, dict[str, int]]] = {}
    for name, values in (("sent", sent_days), ("clicked", clicks), ("revenue", orders.by_day)):
        for (scenario_id, day), n in values.items():
            cell = out.setdefault(scenario_id, {}).setdefault(
                day, {"sent": 0, "clicked": 0, "revenue": 0}
            )
            cell[name] += n
    return out


# -- this month's messages -------------------------------------------------------------------


# A push goes out soon after its planned time (quiet hours postpone it by re-planning);
# this margin lets the month's count use the planned-time index.
SEND_DELAY_MARGIN = timedelta(days=7)


def sent_between(session: Session, start: datetime, end: datetime) -> int:
    """Pushes the engine sent in [start, end)."""
    return int(
        session.scalar(
            select(func.count()).where(
                Delivery.due_at >= start - SEND_DELAY_MARGIN,
                Delivery.due_at < end,
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
    "Period",
    "account_orders",
    "add_clicks",
    "add_orders",
    "add_reactions",
    "click_counts",
    "daily",
    "delivery_states",
    "flow_counts",
    "FlowCounts",
    "opens_by_unit",
    "order_figures",
    "OrderFigures",
    "period_for",
    "promotions",
    "scenario_orders",
    "sent_between",
]


# -- why carts were abandoned ----------------------------------------------------------------

# Cart value bands (yen): below a typical free-shipping line, around it, and above.
VALUE_BANDS = (
    ("under_3000", 3000),
    ("3000_4999", 5000),
    ("5000_9999", 10000),
)
TOP_BAND = "10000_plus"
UNKNOWN_BAND = "unknown"
UNANSWERED = "unanswered"


def survey_answers(session: Session, period: Period) -> list[tuple[str, str, str, int]]:
    """(shop-local day asked, cart value band, reason or "unanswered", count) for the
    abandoned-cart questions asked in the period."""
    value = AbandonmentSurvey.cart_value
    band = case(
        (value.is_(None), UNKNOWN_BAND),
        *((value < limit, name) for name, limit in VALUE_BANDS),
        else_=TOP_BAND,
    ).label("value_band")
    day = _local_day(session, AbandonmentSurvey.asked_at, period).label("asked_day")
    reason = func.coalesce(AbandonmentSurvey.reason, UNANSWERED).label("answer")
    rows = session.execute(
        select(day, band, reason, func.count())
        .where(
            AbandonmentSurvey.asked_at >= period.start,
            AbandonmentSurvey.asked_at < period.end,
        )
        .group_by(day, band, reason)
    ).all()
    return [(str(d), b, r, int(n)) for d, b, r, n in rows]
