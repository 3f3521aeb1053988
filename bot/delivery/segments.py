"""Segments at send time: the shopper's facts, a step's `when:` and `choose:`, the coupon guard.

The batch sender reads what these need in two set-based queries (`load`): the member
attributes the shop sent for the batch's shoppers whose steps have conditions, and when each
shopper of a step that may carry a coupon last got a coupon-bearing message. `decide` then
works in memory, per delivery, after the usual rules (consent, quiet hours, the cart still
open) have let it through:

1. `when:` false → skipped, with the comparison that failed and the value it saw;
2. `choose:` → the first branch that holds names the variant (or template) sent;
3. the coupon guard: a message carrying a coupon (`coupon` in its data) within
   `COUPON_INTERVAL_DAYS` of the shopper's last coupon message, from any scenario, is sent as
   the step's variant without a coupon instead, or skipped when it has none.

A step with none of these (and no coupon) is left exactly as planned.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.orm.attributes import set_committed_value

from bot.core.settings import Settings
from bot.delivery.conditions import evaluate
from bot.delivery.scenarios import ScenarioBook, Step
from bot.models import Cart, Delivery, DeliveryState, Flow, MemberAttributes, Shopper

if TYPE_CHECKING:
    from bot.delivery.send_rules import BatchState

Among = Callable[[InstrumentedAttribute[Any], Iterable[Any]], ColumnElement[bool]]


@dataclass
class SegmentState:
    """What the batch knows for conditions and the coupon guard; the coupon counts move as
    the batch decides, like the daily cap's."""

    attributes: dict[str, MemberAttributes] = field(default_factory=dict)  # by member id
    last_coupon: dict[int, datetime] = field(default_factory=dict)  # by shopper id
    tentative_coupon: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))

    def count_coupon(self, delivery: Delivery, now: datetime) -> None:
        """A coupon message of this batch, counted before its push."""
        self.last_coupon[delivery.shopper_id] = now
        self.tentative_coupon[delivery.shopper_id].append(delivery.id)


@dataclass(frozen=True)
class Verdict:
    """A skip (with the in-batch pushes it relies on), or a note on what was sent and why."""

    skip: str | None = None
    depends_on: tuple[int, ...] = ()
    note: str | None = None


def _step(book: ScenarioBook, delivery: Delivery) -> Step | None:
    scenario = book.get(delivery.scenario_id)
    if scenario is None:
        return None
    try:
        return scenario.step(delivery.step_id)
    except KeyError:
        return None


def uses_attributes(step: Step) -> bool:
    """True if the step has a condition to evaluate at send time."""
    return step.when is not None or any(c.when is not None for c in step.choices)


def load(
    session: Session,
    claimed: Sequence[Delivery],
    shoppers: Mapping[int, Shopper],
    book: ScenarioBook,
    among: Among,
    settings: Settings,
    now: datetime,
) -> SegmentState:
    """Read the attributes and last coupon messages the batch's steps need (often none)."""
    state = SegmentState()
    members: set[str] = set()
    coupon_shoppers: set[int] = set()
    for delivery in claimed:
        step = _step(book, delivery)
        shopper = shoppers.get(delivery.shopper_id)
        if step is None or shopper is None:
            continue
        if uses_attributes(step) and shopper.member_id:
            members.add(shopper.member_id)
        if step.may_carry_coupon():
            coupon_shoppers.add(shopper.id)
    if members:
        state.attributes = {
            a.member_id: a
            for a in session.scalars(
                select(MemberAttributes).where(among(MemberAttributes.member_id, sorted(members)))
            )
        }
    if coupon_shoppers and settings.coupon_interval_days > 0:
        since = now - timedelta(days=settings.coupon_interval_days)
        state.last_coupon = dict(
            session.execute(
                select(Delivery.shopper_id, func.max(Delivery.sent_at))
                .where(
                    among(Delivery.shopper_id, sorted(coupon_shoppers)),
                    Delivery.coupon.is_(True),
                    Delivery.state == DeliveryState.SENT,
                    Delivery.sent_at > since,
                )
                .group_by(Delivery.shopper_id)
            ).all()
        )
    return state


# -- the shopper's facts ---------------------------------------------------------------------


def _local_day(moment: datetime, settings: Settings) -> date:
    return moment.astimezone(settings.tz).date()


def cart_value(cart: Cart | None) -> int | None:
    """The cart's subtotal now: as the shop reported it, or the sum of its priced items."""
    if cart is None:
        return None
    data = cart.data or {}
    subtotal = data.get("subtotal")
    if isinstance(subtotal, int):
        return subtotal
    items = data.get("items") or []
    if not items or any(not isinstance(i.get("price"), int) for i in items):
        return None
    return sum(i["price"] * (i.get("quantity") or 1) for i in items)


def facts(
    shopper: Shopper,
    flow: Flow | None,
    attributes: MemberAttributes | None,
    carts: Mapping[str, Cart],
    settings: Settings,
    now: datetime,
) -> dict[str, Any]:
    """Every attribute a condition may name, None where unknown (no flow: a broadcast, which
    has no cart)."""
    today = _local_day(now, settings)
    context = (flow.context or {}) if flow is not None else {}
    found: dict[str, Any] = {
        "linked_since": (
            (today - _local_day(shopper.linked_at, settings)).days
            if shopper.member_id and shopper.linked_at
            else None
        ),
        "cart_value": cart_value(carts.get(context["cart_id"])) if "cart_id" in context else None,
    }
    a = attributes
    count = a.order_count if a is not None else None
    found.update(
        tags=list(a.tags or []) if a is not None else None,
        rank=a.rank if a is not None else None,
        birthday_month=a.birthday_month if a is not None else None,
        birthday_this_month=(
            a.birthday_month == today.month
            if a is not None and a.birthday_month is not None
            else None
        ),
        first_order_date=a.first_order_date if a is not None else None,
        last_order_date=a.last_order_date if a is not None else None,
        order_count=count,
        lifetime_value=a.lifetime_value if a is not None else None,
        first_purchase=None if count is None else count == 0,
        repeat_buyer=None if count is None else count > 0,
        days_since_last_order=(
            (today - a.last_order_date).days
            if a is not None and a.last_order_date is not None
            else None
        ),
    )
    return found


# -- the decision ----------------------------------------------------------------------------


def _apply(delivery: Delivery, template: str, variant: str | None, coupon: bool) -> None:
    # As if loaded: the batch writes every row back in one executemany (sender._WRITE_BACK),
    # and a changed attribute would make the ORM send an UPDATE of its own at the flush.
    set_committed_value(delivery, "template", template)
    set_committed_value(delivery, "variant", variant)
    set_committed_value(delivery, "coupon", coupon)


def decide(
    delivery: Delivery,
    step: Step,
    state: BatchState,
    settings: Settings,
    now: datetime,
) -> Verdict:
    """Apply the step's condition, branches and the coupon guard to a delivery about to go
    out; the chosen template and variant are set on the delivery for the render."""
    if step.when is None and not step.choices and not step.may_carry_coupon():
        return Verdict()
    shopper = state.shoppers[delivery.shopper_id]
    seen: dict[str, Any] | None = None

    def known() -> dict[str, Any]:
        nonlocal seen
        if seen is None:
            attributes = state.segments.attributes.get(shopper.member_id or "")
            flow = state.flows[delivery.flow_id]
            seen = facts(shopper, flow, attributes, state.carts, settings, now)
        return seen

    if step.when is not None:
        held, why = evaluate(step.when, known())
        if not held:
            return Verdict(skip=f"condition: {why}")
    template, variant = delivery.template, delivery.variant
    notes: list[str] = []
    for choice in step.choices:
        if choice.when is None:
            why = "default"
        else:
            held, why = evaluate(choice.when, known())
            if not held:
                continue
        if choice.variant is not None:
            arm = step.variant(choice.variant)
            variant = choice.variant
            template = arm.template if arm is not None and arm.template else step.template
        else:
            variant, template = None, choice.template or step.template
        notes.append(f"branch: {why} → {variant or template}")
        break
    coupon = step.carries_coupon(variant)
    days = settings.coupon_interval_days
    last = state.segments.last_coupon.get(shopper.id)
    if coupon and days > 0 and last is not None and now < last + timedelta(days=days):
        since = f"a coupon message went out {last:%Y-%m-%d %H:%M} UTC, within {days} days"
        fallback = step.without_coupon()
        if fallback is None:
            return Verdict(
                skip=f"coupon guard: {since}, and the step has no variant without a coupon",
                depends_on=tuple(state.segments.tentative_coupon.get(shopper.id, ())),
            )
        notes.append(f"coupon guard: {fallback.name} instead of {variant or 'the step'} ({since})")
        variant, template = fallback.name, fallback.template or step.template
        coupon = False
    _apply(delivery, template, variant, coupon)
    return Verdict(note="; ".join(notes) or None)
