"""The step-delivery engine's record keeping: flows, planned deliveries, claims and reports.

Every planned message is a `Delivery` row; Redis only carries the ids of claimed rows to the
workers. State machine: pending → sending → sent / cancelled / skipped / failed; a postponed or
retried delivery goes back to pending with a later due_at. Every transition of that machine
is here, which is why this module runs past 400 lines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from bot.core.metrics import DELIVERIES
from bot.delivery.scenarios import Scenario
from bot.models import (
    Cart,
    CartSku,
    CartState,
    Click,
    Conversion,
    Delivery,
    DeliveryState,
    EngineFlag,
    Flow,
    FlowState,
    Order,
    ShopEvent,
    Shopper,
    VariantPromotion,
)

log = logging.getLogger(__name__)

MARKETING_PAUSE_FLAG = "marketing_paused"
OPEN_STATES = (DeliveryState.PENDING, DeliveryState.SENDING)
KEPT_ON_RESTART = (DeliveryState.SENT, DeliveryState.SENDING, DeliveryState.FAILED)
HOLDOUT_REASON = "holdout"  # the shopper is in the scenario's control group


def promoted_variants(session: Session, scenario_id: str) -> dict[str, str]:
    """The A/B winners an admin promoted in a scenario: step id → variant name."""
    rows = session.execute(
        select(VariantPromotion.step_id, VariantPromotion.variant).where(
            VariantPromotion.scenario_id == scenario_id
        )
    )
    return {step_id: variant for step_id, variant in rows}


def customer_key(member_id: str | None, line_user_id: str | None) -> str:
    """How shop events name a customer: by member id when given, else by LINE user id."""
    if member_id:
        return f"m:{member_id}"
    if line_user_id:
        return f"u:{line_user_id}"
    raise ValueError("member_id or line_user_id is required")


def customer_keys(shopper: Shopper) -> list[str]:
    """Every key a shopper's events may have been stored under."""
    keys = [f"u:{shopper.line_user_id}"] if shopper.line_user_id else []
    member = shopper.member_id or shopper.contact_member_id
    if member:
        keys.insert(0, f"m:{member}")
    return keys


def shopper_for_key(session: Session, key: str) -> Shopper | None:
    """The linked shopper a customer key names, if there is one."""
    kind, _, ident = key.partition(":")
    column = Shopper.member_id if kind == "m" else Shopper.line_user_id
    return session.scalars(select(Shopper).where(column == ident)).first()


def _flow(session: Session, shopper: Shopper, scenario_id: str, subject: str) -> Flow | None:
    return session.scalars(
        select(Flow).where(
            Flow.shopper_id == shopper.id,
            Flow.scenario_id == scenario_id,
            Flow.subject == subject,
        )
    ).first()


def flow_deliveries(session: Session, flow: Flow) -> dict[str, Delivery]:
    """The flow's deliveries by step id."""
    rows = session.scalars(select(Delivery).where(Delivery.flow_id == flow.id))
    return {d.step_id: d for d in rows}


def _cooldown_hit(
    session: Session,
    shopper: Shopper,
    scenario: Scenario,
    subject: str,
    skus: list[str],
    cooldown: timedelta,
    now: datetime,
) -> datetime | None:
    """When another flow of this scenario already reminded the shopper of these items."""
    if not skus or cooldown <= timedelta(0):
        return None
    recent = session.execute(
        select(Flow.context, Delivery.sent_at)
        .join(Delivery, Delivery.flow_id == Flow.id)
        .where(
            Flow.shopper_id == shopper.id,
            Flow.scenario_id == scenario.id,
            Flow.subject != subject,
            Delivery.state == DeliveryState.SENT,
            Delivery.sent_at >= now - cooldown,
        )
        .order_by(Delivery.sent_at.desc())
    ).all()
    for context, sent_at in recent:
        if set(skus) <= set((context or {}).get("skus") or []):
            return sent_at
    return None


def start_flow(
    session: Session,
    shopper: Shopper,
    scenario: Scenario,
    subject: str,
    *,
    anchor: datetime,
    context: dict[str, Any],
    now: datetime,
    restart: bool,
    cooldown: timedelta | None = None,
) -> Flow:
    """Start (or, with restart, re-time) a scenario run and plan its steps from the anchor.

    Steps already sent for the same subject are never planned again; pending ones move to
    the new times. A flow that ended stays ended unless `restart` says a newer trigger came.
    """
    flow = _flow(session, shopper, scenario.id, subject)
    if flow is None:
        flow = Flow(
            shopper_id=shopper.id,
            scenario_id=scenario.id,
            subject=subject,
            state=FlowState.ACTIVE,
            anchor_at=anchor,
            context=context,
            started_at=now,
        )
        session.add(flow)
        session.flush()
    elif flow.state is FlowState.ENDED and not restart:
        return flow
    else:
        flow.state = FlowState.ACTIVE
        flow.ended_at = None
        flow.end_reason = None
        flow.anchor_at = anchor
        flow.context = context
    if cooldown is not None:
        hit = _cooldown_hit(
            session, shopper, scenario, subject, list(context.get("skus") or []), cooldown, now
        )
        if hit is not None:
            end_flow(
                session,
                flow,
                f"cooldown: the same items were reminded at {hit:%Y-%m-%d %H:%M} UTC",
                now,
            )
            return flow
    _plan_steps(session, flow, shopper, scenario, now)
    return flow


def _plan_steps(
    session: Session, flow: Flow, shopper: Shopper, scenario: Scenario, now: datetime
) -> None:
    existing = flow_deliveries(session, flow)
    sent = sum(
        1 for d in existing.values() if d.state in (DeliveryState.SENT, DeliveryState.SENDING)
    )
    promoted = (
        promoted_variants(session, scenario.id) if any(s.variants for s in scenario.steps) else {}
    )
    planned: list[Delivery] = []
    for step in scenario.steps:
        delivery = existing.get(step.id)
        if delivery is not None and delivery.state in KEPT_ON_RESTART:
            continue
        variant = step.choose_variant(scenario.id, shopper.id, promoted.get(step.id))
        due = flow.anchor_at + step.delay
        if delivery is None:
            delivery = Delivery(
                flow_id=flow.id,
                shopper_id=shopper.id,
                scenario_id=scenario.id,
                step_id=step.id,
                step_index=step.index,
                template=(variant.template if variant and variant.template else step.template),
                variant=variant.name if variant else None,
                marketing=step.marketing,
                created_at=now,
            )
            session.add(delivery)
        delivery.state = DeliveryState.PENDING
        delivery.due_at = due
        delivery.expires_at = due + step.expires_after
        too_close = False
        if step.before_deadline is not None:
            # Timed from the deadline, and never sent after it.
            deadline = _deadline(flow)
            delivery.due_at = deadline - step.before_deadline
            delivery.expires_at = min(delivery.due_at + step.expires_after, deadline)
            too_close = delivery.due_at < due
        delivery.reason = None
        delivery.attempts = 0
        delivery.claimed_at = None
        delivery.handed_off_at = None
        delivery.updated_at = now
        if too_close:
            _finish(delivery, DeliveryState.SKIPPED, TOO_CLOSE_REASON, now)
            continue
        planned.append(delivery)
    if scenario.in_holdout(shopper.id):
        # The control group: planned like everyone's, so the report can compare what the
        # shopper did without the messages, but never sent.
        for delivery in planned:
            _finish(delivery, DeliveryState.SKIPPED, HOLDOUT_REASON, now)
        flow.state = FlowState.ENDED
        flow.ended_at = now
        flow.end_reason = HOLDOUT_REASON
        session.flush()
        return
    room = scenario.max_messages - sent
    for delivery in planned[max(room, 0) :]:
        _finish(delivery, DeliveryState.SKIPPED, "max_messages: enough messages for this flow", now)
    # Steps whose time passed before the flow could start (e.g. the member linked late):
    # only the latest of them is still worth sending; the earlier ones would arrive in a burst.
    overdue = [d for d in planned if d.state is DeliveryState.PENDING and d.due_at <= now]
    for delivery in overdue[:-1]:
        _finish(delivery, DeliveryState.SKIPPED, "superseded: a later step was already due", now)
    session.flush()


TOO_CLOSE_REASON = "too close to the deadline: the event came after this reminder's time"


def _deadline(flow: Flow) -> datetime:
    """The payment deadline a deadline-timed flow keeps in its context (aware UTC)."""
    return datetime.fromisoformat((flow.context or {})["deadline"])


def _finish(delivery: Delivery, state: DeliveryState, reason: str | None, now: datetime) -> None:
    delivery.state = state
    delivery.reason = reason
    delivery.claimed_at = None
    delivery.updated_at = now
    DELIVERIES.labels(state.value).inc()


def end_flow(session: Session, flow: Flow, reason: str, now: datetime) -> int:
    """End a flow and cancel its pending deliveries; returns how many were cancelled."""
    if flow.state is FlowState.ACTIVE:
        flow.state = FlowState.ENDED
        flow.ended_at = now
        flow.end_reason = reason
    cancelled = 0
    for delivery in flow_deliveries(session, flow).values():
        if delivery.state is DeliveryState.PENDING:
            _finish(delivery, DeliveryState.CANCELLED, reason, now)
            cancelled += 1
    return cancelled


def end_flows(
    session: Session,
    shopper: Shopper,
    scenario_ids: Iterable[str],
    reason: str,
    now: datetime,
    *,
    subject: str | None = None,
    anchored_before: datetime | None = None,
) -> int:
    """End the shopper's active flows of these scenarios (optionally one subject)."""
    ids = list(scenario_ids)
    if not ids:
        return 0
    query = select(Flow).where(
        Flow.shopper_id == shopper.id, Flow.scenario_id.in_(ids), Flow.state == FlowState.ACTIVE
    )
    if subject is not None:
        query = query.where(Flow.subject == subject)
    if anchored_before is not None:
        query = query.where(Flow.anchor_at <= anchored_before)
    return sum(end_flow(session, flow, reason, now) for flow in session.scalars(query).all())


def stop_all(
    session: Session,
    shopper: Shopper,
    reason: str,
    now: datetime,
    *,
    keep: Iterable[str] = (),
) -> int:
    """Unfollow: end every active flow of the shopper and cancel what was pending.

    Flows of the `keep` scenarios (those that may also go by e-mail or SMS) go on: their
    next step picks another channel at send time.
    """
    query = select(Flow).where(Flow.shopper_id == shopper.id, Flow.state == FlowState.ACTIVE)
    kept = list(keep)
    if kept:
        query = query.where(Flow.scenario_id.not_in(kept))
    flows = session.scalars(query).all()
    return sum(end_flow(session, flow, reason, now) for flow in flows)


def stop_marketing(
    session: Session,
    shopper: Shopper,
    reason: str,
    now: datetime,
    *,
    keep: Iterable[str] = (),
) -> int:
    """Opt-out: cancel pending marketing deliveries; end flows with nothing else left.

    LINE's 「配信停止」 only governs LINE: deliveries of the `keep` scenarios (those that may
    also go by e-mail or SMS) stay, and their channel is chosen at send time.
    """
    query = select(Delivery).where(
        Delivery.shopper_id == shopper.id,
        Delivery.state == DeliveryState.PENDING,
        Delivery.marketing.is_(True),
    )
    kept = list(keep)
    if kept:
        query = query.where(Delivery.scenario_id.not_in(kept))
    pending = session.scalars(query).all()
    for delivery in pending:
        _finish(delivery, DeliveryState.CANCELLED, reason, now)
    session.flush()
    for flow in session.scalars(
        select(Flow).where(Flow.shopper_id == shopper.id, Flow.state == FlowState.ACTIVE)
    ).all():
        if not any(d.state in OPEN_STATES for d in flow_deliveries(session, flow).values()):
            flow.state = FlowState.ENDED
            flow.ended_at = now
            flow.end_reason = reason
    return len(pending)


# -- dispatcher ------------------------------------------------------------------------------


def marketing_paused_until(session: Session, now: datetime) -> datetime | None:
    """The end of a marketing pause (LINE's monthly limit), if one is in force."""
    flag = session.get(EngineFlag, MARKETING_PAUSE_FLAG)
    return flag.until if flag is not None and flag.until > now else None


def pause_marketing(session: Session, until: datetime, reason: str, now: datetime) -> None:
    """Hold marketing sends until `until` (transactional messages keep going)."""
    flag = session.get(EngineFlag, MARKETING_PAUSE_FLAG)
    if flag is None:
        session.add(EngineFlag(name=MARKETING_PAUSE_FLAG, until=until, reason=reason, set_at=now))
    else:
        flag.until, flag.reason, flag.set_at = until, reason, now


def clear_marketing_pause(session: Session) -> None:
    session.execute(delete(EngineFlag).where(EngineFlag.name == MARKETING_PAUSE_FLAG))


def claim_due(
    session: Session,
    now: datetime,
    *,
    limit: int,
    lease: timedelta,
    include_marketing: bool = True,
    dead_after: timedelta | None = None,
    alive: Callable[[Sequence[int]], set[int]] | None = None,
) -> list[int]:
    """Mark up to `limit` due deliveries as sending and return their ids (caller commits).

    On PostgreSQL the candidate rows are locked with SKIP LOCKED, so several dispatchers never
    claim the same row; on SQLite the single writer makes the conditional UPDATE enough.
    Deliveries left in `sending` past the lease (their worker died) are claimed again: the
    delivery's retry key makes that second push harmless. With `alive` (which of these rows
    a live process holds), a row nobody holds is claimed again once it is `dead_after` old,
    without waiting out the lease.
    """
    due = and_(Delivery.state == DeliveryState.PENDING, Delivery.due_at <= now)
    if not include_marketing:
        due = and_(due, Delivery.marketing.is_(False))
    ids = _claim_orphans(session, now, limit, dead_after, alive) if alive and dead_after else []
    stale = and_(Delivery.state == DeliveryState.SENDING, Delivery.claimed_at < now - lease)
    for condition in (stale, due):
        room = limit - len(ids)
        if room <= 0:
            break
        candidates = (
            select(Delivery.id)
            .where(condition)
            .order_by(Delivery.due_at)
            .limit(room)
            .with_for_update(skip_locked=True)
        )
        ids.extend(_mark_sending(session, candidates.scalar_subquery(), now))
    return ids


# How many `sending` rows one claim looks at for orphans: the queue holds at most about this
# many claimed rows (bot.delivery.jobs.MAX_QUEUED_BATCHES x SEND_BATCH), all of them alive.
ORPHAN_SCAN = 20_000


def _claim_orphans(
    session: Session,
    now: datetime,
    limit: int,
    dead_after: timedelta,
    alive: Callable[[Sequence[int]], set[int]],
) -> list[int]:
    """Claim again the `sending` rows older than `dead_after` that no live process holds."""
    cutoff = now - dead_after
    sending = and_(Delivery.state == DeliveryState.SENDING, Delivery.claimed_at < cutoff)
    candidates = list(
        session.scalars(
            select(Delivery.id).where(sending).order_by(Delivery.claimed_at).limit(ORPHAN_SCAN)
        )
    )
    try:
        held = alive(candidates)
    except RedisError as exc:  # without Redis, only the lease can tell a dead sender
        log.warning("could not read which deliveries are in hand", extra={"error": str(exc)})
        return []
    orphans = [row_id for row_id in candidates if row_id not in held][:limit]
    if not orphans:
        return []
    # The condition is checked again under the row lock, and a row a sender has locked is
    # passed by: one claimed meanwhile by another dispatcher has a new claimed_at.
    locked = select(Delivery.id).where(Delivery.id.in_(orphans), sending)
    return _mark_sending(session, locked.with_for_update(skip_locked=True).scalar_subquery(), now)


def _mark_sending(session: Session, ids: Any, now: datetime) -> list[int]:
    claimed = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids))
        .values(state=DeliveryState.SENDING, claimed_at=now, updated_at=now)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return list(claimed.scalars())


def retry_delivery(session: Session, delivery: Delivery, now: datetime) -> None:
    """Put a failed (or skipped/cancelled) delivery back in line to be sent now."""
    if delivery.state in (DeliveryState.SENT, DeliveryState.SENDING, DeliveryState.PENDING):
        raise ValueError(
            f"delivery {delivery.id} is {delivery.state.value}: "
            "only failed, skipped or cancelled deliveries can be retried"
        )
    flow = session.get(Flow, delivery.flow_id)
    if flow is not None and flow.state is FlowState.ENDED:
        flow.state = FlowState.ACTIVE
        flow.ended_at = None
        flow.end_reason = None
    delivery.state = DeliveryState.PENDING
    delivery.due_at = now
    delivery.expires_at = None  # the operator asked for it: do not let it go stale again
    delivery.reason = "retried by operator"
    delivery.attempts = 0
    delivery.claimed_at = None
    # The operator accepts that an unconfirmed e-mail or SMS may reach the shopper twice.
    delivery.handed_off_at = None
    delivery.updated_at = now


# -- reports ---------------------------------------------------------------------------------


def member_deliveries(session: Session, shopper: Shopper) -> list[dict[str, Any]]:
    """The shopper's deliveries, newest first: what is pending, sent, and why one was skipped."""
    rows = session.execute(
        select(Delivery, Flow)
        .join(Flow, Flow.id == Delivery.flow_id)
        .where(Delivery.shopper_id == shopper.id)
        .order_by(Delivery.due_at.desc(), Delivery.id.desc())
    ).all()
    return [
        {
            "id": d.id,
            "scenario": d.scenario_id,
            "step": d.step_id,
            "template": d.template,
            "variant": d.variant,
            "marketing": d.marketing,
            "subject": flow.subject,
            "state": d.state.value,
            "due_at": d.due_at.isoformat(),
            "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            "reason": d.reason or (flow.end_reason if d.state is DeliveryState.CANCELLED else None),
            "attempts": d.attempts,
            "line_request_id": d.line_request_id,
            "channel": d.channel,
            "flow_state": flow.state.value,
        }
        for d, flow in rows
    ]


def member_flows(session: Session, shopper: Shopper) -> list[dict[str, Any]]:
    """The shopper's flows with why each ended (e.g. a cooldown that kept one from starting)."""
    flows = session.scalars(
        select(Flow).where(Flow.shopper_id == shopper.id).order_by(Flow.id.desc())
    ).all()
    return [
        {
            "scenario": f.scenario_id,
            "subject": f.subject,
            "state": f.state.value,
            "started_at": f.started_at.isoformat(),
            "ended_at": f.ended_at.isoformat() if f.ended_at else None,
            "end_reason": f.end_reason,
        }
        for f in flows
    ]


# -- attribution -----------------------------------------------------------------------------


def record_click(
    session: Session,
    *,
    delivery_id: int | None,
    shopper_id: int | None,
    campaign: str,
    content: str,
    url: str,
    now: datetime,
) -> Click:
    """Store a tap on a tracking link (ids that no longer exist are dropped, not trusted)."""
    if delivery_id is not None and session.get(Delivery, delivery_id) is None:
        delivery_id = None
    if shopper_id is not None and session.get(Shopper, shopper_id) is None:
        shopper_id = None
    click = Click(
        delivery_id=delivery_id,
        shopper_id=shopper_id,
        campaign=campaign[:64],
        content=content[:128],
        url=url,
        clicked_at=now,
    )
    session.add(click)
    session.flush()
    return click


def attribute_order(
    session: Session,
    shopper: Shopper,
    *,
    order_id: str,
    amount: int | None,
    ordered_at: datetime,
    windows: dict[str, timedelta],
    now: datetime,
) -> Conversion | None:
    """Link an order to the marketing deliveries sent within their scenario's window before it."""
    if session.scalars(select(Conversion).where(Conversion.order_id == order_id)).first():
        return None
    longest = max(windows.values(), default=timedelta(days=7))
    sent = [
        d
        for d in session.scalars(
            select(Delivery)
            .where(
                Delivery.shopper_id == shopper.id,
                Delivery.state == DeliveryState.SENT,
                Delivery.marketing.is_(True),
                Delivery.sent_at <= ordered_at,
                Delivery.sent_at >= ordered_at - longest,
            )
            .order_by(Delivery.sent_at)
        ).all()
        if d.sent_at is not None
        and d.sent_at >= ordered_at - windows.get(d.scenario_id, timedelta(days=7))
    ]
    if not sent:
        return None
    click = session.scalars(
        select(Click)
        .where(
            Click.shopper_id == shopper.id,
            Click.clicked_at <= ordered_at,
            Click.clicked_at >= sent[0].sent_at,
            or_(Click.delivery_id.in_([d.id for d in sent]), Click.delivery_id.is_(None)),
        )
        .order_by(Click.clicked_at.desc())
    ).first()
    conversion = Conversion(
        order_id=order_id,
        shopper_id=shopper.id,
        scenario_id=sent[-1].scenario_id,
        amount=amount,
        delivery_ids=[d.id for d in sent],
        click_id=click.id if click else None,
        ordered_at=ordered_at,
        created_at=now,
    )
    session.add(conversion)
    return conversion


def set_cart_skus(session: Session, cart: Cart, skus: list[str]) -> None:
    """Record the products a cart holds (its list and the index a restock searches)."""
    skus = sorted(set(skus))
    if cart.id is None:
        session.flush()  # the new cart needs its id
    elif skus == sorted(cart.skus or []):
        return
    cart.skus = skus
    session.execute(delete(CartSku).where(CartSku.cart_id == cart.id))
    if skus:
        session.execute(insert(CartSku), [{"cart_id": cart.id, "sku": sku} for sku in skus])


def abandoned_cart_holders(session: Session, sku: str, since: datetime) -> list[tuple[str, Cart]]:
    """(customer key, newest cart) of carts changed since `since`, never ordered, holding the
    SKU."""
    carts = session.scalars(
        select(Cart)
        .join(CartSku, CartSku.cart_id == Cart.id)
        .where(CartSku.sku == sku, Cart.changed_at >= since, Cart.state != CartState.ORDERED)
        .order_by(Cart.changed_at.desc())
    ).all()
    seen: dict[str, Cart] = {}
    for cart in carts:
        seen.setdefault(cart.customer_key, cart)
    return list(seen.items())


ERASED_KEY = "erased"


def erase_customer(
    session: Session, member_id: str, line_user_ids: Sequence[str]
) -> dict[str, int]:
    """Remove what the shop told us about this member and the LINE users erased with it,
    linked or not (carts, orders, event contents).

    Flows, deliveries and conversions go with the shopper rows. Shop events stay as
    tombstones (event id only), so a resend from the EC site is still recognised as a
    duplicate instead of bringing the data back.
    """
    keys = {customer_key(member_id, None), *(customer_key(None, u) for u in line_user_ids)}
    # A member known only by e-mail or phone: the contact-only row, its flows and deliveries.
    contact_rows = session.scalars(
        select(Shopper).where(Shopper.contact_member_id == member_id)
    ).all()
    for row in contact_rows:
        session.delete(row)
    session.flush()
    carts = session.execute(delete(Cart).where(Cart.customer_key.in_(keys))).rowcount
    orders = session.execute(delete(Order).where(Order.customer_key.in_(keys))).rowcount
    events = session.execute(
        update(ShopEvent)
        .where(ShopEvent.customer_key.in_(keys))
        .values(customer_key=ERASED_KEY, payload={}, outcome=None, applied=True)
    ).rowcount
    counts = {"carts": carts or 0, "orders": orders or 0, "shop_events": events or 0}
    if contact_rows:
        counts["contact_shoppers"] = len(contact_rows)
    return counts
