"""Scenarios started by a daily run over the customers rather than by an event.

Win-back: linked shoppers whose last order is `dormant_days` old start a flow, once per
dormancy; for a scenario that may go by e-mail or SMS, also those who blocked the account and
members known only by contact (the shop gave their address).

The last order is the later of the member attribute `last_order_date` (from the shop) and the
latest `order.placed` the bot knows. The flow's subject names that date, so a dormancy starts
its flow once whatever the number of daily runs; a new order ends the flow (`exit_on:
order.placed`) and moves the date, so a later dormancy starts it again.

Birthday month: linked shoppers whose member attribute `birthday_month` is the current month
(in the shop's time zone) start a flow, once per year (the subject names the year).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot import consents
from bot.delivery import engine as deliveries
from bot.delivery import recipients
from bot.delivery.events import DeliveryRules
from bot.models import Flow, FollowState, MemberAttributes, Order, Shopper

TRIGGER = "customer.dormant"
BIRTHDAY_TRIGGER = "customer.birthday_month"
CONTACT_CHUNK = 500  # members per contact lookup (SQLite caps a statement's parameters)


def _last_by_key(session: Session, tz: ZoneInfo) -> dict[str, tuple[date, str | None]]:
    """Each customer key's last order day (shop time) and, if the bot knows the order, its id:
    orders by their key, the member attribute `last_order_date` as `m:<member id>`."""
    found: dict[str, tuple[date, str | None]] = {}
    latest = (
        select(Order.customer_key, func.max(Order.placed_at).label("at"))
        .where(Order.placed_at.is_not(None))
        .group_by(Order.customer_key)
        .subquery()
    )
    for key, order_id, placed_at in session.execute(
        select(Order.customer_key, Order.order_id, Order.placed_at).join(
            latest,
            (Order.customer_key == latest.c.customer_key) & (Order.placed_at == latest.c.at),
        )
    ).all():
        found[key] = (placed_at.astimezone(tz).date(), order_id)
    for member_id, day in session.execute(
        select(MemberAttributes.member_id, MemberAttributes.last_order_date).where(
            MemberAttributes.last_order_date.is_not(None)
        )
    ).all():
        key = f"m:{member_id}"
        if key not in found or day > found[key][0]:
            found[key] = (day, None)
    return found


def last_orders(
    session: Session,
    tz: ZoneInfo,
    *,
    everyone: bool = False,
    by_key: dict[str, tuple[date, str | None]] | None = None,
) -> dict[int, tuple[date, str | None]]:
    """Each linked, following shopper's last order date (a day in the shop's time zone, as the
    shop's own `last_order_date` is) and, if the bot knows it, its id. With `everyone`, also
    linked shoppers who blocked the account and members known only by contact (for scenarios
    that may go by e-mail or SMS)."""
    who = Shopper.member_id.is_not(None)
    if not everyone:
        who = and_(who, Shopper.follow_state == FollowState.FOLLOWING)
    else:
        who = or_(who, Shopper.contact_member_id.is_not(None))
    shoppers = session.execute(
        select(
            Shopper.id, Shopper.member_id, Shopper.contact_member_id, Shopper.line_user_id
        ).where(who)
    ).all()
    if by_key is None:
        by_key = _last_by_key(session, tz)
    found: dict[int, tuple[date, str | None]] = {}
    for shopper_id, member_id, contact_member_id, line_user_id in shoppers:
        keys = [f"m:{member_id or contact_member_id}"]
        if line_user_id is not None:
            keys.append(f"u:{line_user_id}")
        for key in keys:
            last = by_key.get(key)
            if last is not None and (shopper_id not in found or last[0] > found[shopper_id][0]):
                found[shopper_id] = last
    return found


def _make_contact_rows(
    session: Session, rules: DeliveryRules, members: set[str], now: datetime
) -> None:
    """Contact-only shopper rows for the members the bot has none for (never linked, no event
    since the shop gave their address), so that e-mail and SMS can reach them; a member
    without an address gets none."""
    if not members:
        return
    known = set(
        session.scalars(
            select(func.coalesce(Shopper.member_id, Shopper.contact_member_id)).where(
                or_(Shopper.member_id.is_not(None), Shopper.contact_member_id.is_not(None))
            )
        )
    )
    missing = sorted(members - known)
    for start in range(0, len(missing), CONTACT_CHUNK):
        # One query per chunk finds who has an address at all; most dormant members may not.
        contacts = consents.contacts_of(session, missing[start : start + CONTACT_CHUNK])
        for member_id, contact in sorted(contacts.items()):
            if contact.email is not None or contact.phone is not None:
                recipients.recipient_for_key(session, f"m:{member_id}", rules.book, now)


def start_winbacks(session: Session, rules: DeliveryRules, now: datetime, tz: ZoneInfo) -> int:
    """Start the win-back flow of every shopper dormant long enough, once per dormancy."""
    scenarios = rules.book.triggered_by(TRIGGER)
    if not scenarios:
        return 0
    started = 0
    today = now.astimezone(tz).date()
    by_key = _last_by_key(session, tz)
    off_line = [s for s in scenarios if s.reaches_off_line]
    if off_line:
        latest_cutoff = max(today - timedelta(days=s.dormant_days or 0) for s in off_line)
        dormant = {
            key[2:]
            for key, (day, _) in by_key.items()
            if key.startswith("m:") and day <= latest_cutoff
        }
        _make_contact_rows(session, rules, dormant, now)
    last = last_orders(session, tz, everyone=bool(off_line), by_key=by_key)
    shoppers = {s.id: s for s in session.scalars(select(Shopper).where(Shopper.id.in_(list(last))))}
    for scenario in scenarios:
        assert scenario.dormant_days is not None
        cutoff = today - timedelta(days=scenario.dormant_days)
        seen = _started(session, scenario.id, "dormant:")
        for shopper_id, (day, order_id) in sorted(last.items()):
            subject = f"dormant:{day.isoformat()}"
            if day > cutoff or (shopper_id, subject) in seen:
                continue
            shopper = shoppers[shopper_id]
            # A LINE-only scenario reaches followers; one that may go by e-mail or SMS, all.
            if not (shopper.is_following or scenario.reaches_off_line):
                continue
            context: dict[str, str] = {"last_order_date": day.isoformat()}
            if order_id is not None:
                context["order_id"] = order_id
            deliveries.start_flow(
                session, shopper, scenario, subject, anchor=now, context=context, now=now,
                restart=False,
            )  # fmt: skip
            started += 1
    return started


def _started(session: Session, scenario_id: str, prefix: str) -> set[tuple[int, str]]:
    """(shopper id, subject) of the scenario's flows whose subject starts with `prefix`: one
    query per run instead of one per shopper."""
    return {
        (shopper_id, subject)
        for shopper_id, subject in session.execute(
            select(Flow.shopper_id, Flow.subject).where(
                Flow.scenario_id == scenario_id, Flow.subject.startswith(prefix)
            )
        )
    }


def _latest_order_ids(session: Session, tz: ZoneInfo) -> dict[int, str]:
    return {
        shopper_id: order_id
        for shopper_id, (_day, order_id) in last_orders(session, tz).items()
        if order_id is not None
    }


def start_birthdays(session: Session, rules: DeliveryRules, now: datetime, tz: ZoneInfo) -> int:
    """Start the birthday-month flow of every linked shopper born this month, once a year;
    for a scenario that may go by e-mail or SMS, also of those who blocked the account and of
    members known only by contact."""
    scenarios = rules.book.triggered_by(BIRTHDAY_TRIGGER)
    if not scenarios:
        return 0
    local = now.astimezone(tz)
    subject = f"birthday:{local.year}"
    off_line = any(s.reaches_off_line for s in scenarios)
    born = select(MemberAttributes.member_id).where(MemberAttributes.birthday_month == local.month)
    if off_line:
        _make_contact_rows(session, rules, set(session.scalars(born)), now)
    member = func.coalesce(Shopper.member_id, Shopper.contact_member_id)
    query = select(Shopper).where(member.in_(born)).order_by(Shopper.id)
    if not off_line:
        query = query.where(
            Shopper.member_id.is_not(None), Shopper.follow_state == FollowState.FOLLOWING
        )
    shoppers = session.scalars(query).all()
    if not shoppers:
        return 0
    orders = _latest_order_ids(session, tz)
    started = 0
    for scenario in scenarios:
        seen = _started(session, scenario.id, subject)
        for shopper in shoppers:
            if (shopper.id, subject) in seen:
                continue
            if not (shopper.is_following or scenario.reaches_off_line):
                continue
            context: dict[str, str] = {"birthday_month": str(local.month)}
            if shopper.id in orders:
                context["order_id"] = orders[shopper.id]
            deliveries.start_flow(
                session, shopper, scenario, subject, anchor=now, context=context, now=now,
                restart=False,
            )  # fmt: skip
            started += 1
    return started
