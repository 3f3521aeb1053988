"""Why carts are abandoned: a one-tap question after the reminders, and the answers.

The question is a step of a built-in scenario (`SURVEY_SCENARIO`, template
`abandonment_survey`), so it goes out through the delivery engine like any reminder: consent,
quiet hours, the daily cap, chats with staff, LINE's monthly limit, retry keys and the
conversation log all apply, and its push carries its own aggregation unit.

A periodic sweep (`plan_abandonment_surveys`) plans it for a cart

* whose cart flow is done (every reminder sent or skipped, at least one sent) while the cart
  is still open, or
* that was cleared without an order (the shopper's carts flow existed, and no order of the
  customer came after the cart's last change),

`ASK_AFTER` after that happened, and not for events older than `LOOKBACK` (a sweep that was
down for a while does not ask about old carts). A shopper is asked at most once per
`PER_SHOPPER` days, and a cart at most once ever (`abandonment_surveys.cart_id` is unique:
the row is written when the question is planned, so it is never planned again).

The answer is a postback (`action=cart_survey&reason=<code>`); it is stored on the shopper's
question of the last `PER_SHOPPER` days, the first tap only, and thanked once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import String, exists, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.jobs import job_context
from bot.delivery import engine as deliveries
from bot.delivery.receivers import delivery_rules
from bot.delivery.scenarios import Scenario, ScenarioBook, Step
from bot.line.event import LineEvent
from bot.line.messaging import log_inbound
from bot.line.routing import HandlerContext, postback_params, text
from bot.models import (
    AbandonmentSurvey,
    Cart,
    CartState,
    Delivery,
    DeliveryState,
    Flow,
    FlowState,
    Order,
    Shopper,
)
from flex_templates.builders import CART_SURVEY_ACTION, CART_SURVEY_REASONS

log = logging.getLogger(__name__)

SURVEY_SCENARIO_ID = "abandonment_survey"
SURVEY_STEP_ID = "ask"
SURVEY_TEMPLATE = "abandonment_survey"
SUBJECT_PREFIX = "survey:"
ASK_AFTER = timedelta(hours=1)  # after the last reminder, or after the cart was cleared
LOOKBACK = timedelta(days=2)
PER_SHOPPER = timedelta(days=30)
SWEEP_LIMIT = 500  # carts per run; the next run (10 minutes later) takes the rest
LAST_REMINDER = "last_reminder"
CART_CLEARED = "cart_cleared"
THANKS = "ご回答ありがとうございました。いただいた声をお店づくりに役立てます。"

SURVEY_SCENARIO = Scenario(
    id=SURVEY_SCENARIO_ID,
    title="カゴ落ち理由アンケート",
    trigger="survey",  # no shop event starts it: the sweep below does
    steps=(
        Step(
            id=SURVEY_STEP_ID,
            index=0,
            delay=timedelta(0),
            template=SURVEY_TEMPLATE,
            marketing=True,
            # Held back by quiet hours, the daily cap or a chat with staff, it may wait a
            # day; later than that the cart is no longer on the shopper's mind.
            expires_after=timedelta(days=2),
        ),
    ),
    exit_on=frozenset({"order.placed", "unfollow", "opt_out"}),
    # A question is not a reminder: no order is attributed to it.
    attribution_window=timedelta(0),
    max_messages=1,
)


def with_survey(book: ScenarioBook) -> ScenarioBook:
    """The shop's scenarios plus the survey (unless the file defines one of that id)."""
    if book.get(SURVEY_SCENARIO_ID) is not None:
        return book
    return ScenarioBook((*book.scenarios, SURVEY_SCENARIO), book.source)


# -- planning --------------------------------------------------------------------------------


def _candidates(
    session: Session, cart_scenarios: list[Scenario], now: datetime
) -> list[tuple[Flow, Cart, str]]:
    """(cart flow, cart, trigger) of carts ready to be asked about, oldest first."""
    ready, since = now - ASK_AFTER, now - LOOKBACK
    # A flow's last step is done at most its delay plus its freshness after the cart's last
    # change (a day more for a late dispatcher): older carts need not be looked at.
    span = max(s.delay + s.expires_after for scenario in cart_scenarios for s in scenario.steps)
    recent = Cart.changed_at >= since - span - timedelta(days=1)
    scenario_ids = [s.id for s in cart_scenarios]
    same_cart = Flow.subject == literal("cart:", String) + Cart.cart_id
    not_asked = ~exists().where(AbandonmentSurvey.cart_id == Cart.cart_id)
    last_done = (
        select(func.max(Delivery.updated_at)).where(Delivery.flow_id == Flow.id).scalar_subquery()
    )
    reminded = (
        select(Flow, Cart)
        .join(Cart, same_cart)
        .where(
            Flow.scenario_id.in_(scenario_ids),
            Flow.state == FlowState.ACTIVE,
            Cart.state == CartState.OPEN,
            recent,
            not_asked,
            ~exists().where(
                Delivery.flow_id == Flow.id, Delivery.state.in_(deliveries.OPEN_STATES)
            ),
            exists().where(Delivery.flow_id == Flow.id, Delivery.state == DeliveryState.SENT),
            last_done <= ready,
            last_done >= since,
        )
        .order_by(Cart.changed_at)
        .limit(SWEEP_LIMIT)
    )
    cleared_at = func.coalesce(Cart.closed_at, Cart.changed_at)
    cleared = (
        select(Flow, Cart)
        .join(Cart, same_cart)
        .where(
            Flow.scenario_id.in_(scenario_ids),
            Cart.state == CartState.CLEARED,
            recent,
            cleared_at <= ready,
            cleared_at >= since,
            not_asked,
            # Cleared at checkout (or bought with another cart): not abandoned.
            ~exists().where(
                Order.customer_key == Cart.customer_key, Order.placed_at >= Cart.changed_at
            ),
        )
        .order_by(cleared_at)
        .limit(SWEEP_LIMIT)
    )
    found: dict[str, tuple[Flow, Cart, str]] = {}
    for trigger, query in ((LAST_REMINDER, reminded), (CART_CLEARED, cleared)):
        for flow, cart in session.execute(query).all():
            found.setdefault(cart.cart_id, (flow, cart, trigger))
    return list(found.values())


def _asked_recently(session: Session, shopper_id: int, now: datetime) -> bool:
    return (
        session.scalar(
            select(AbandonmentSurvey.id)
            .where(
                AbandonmentSurvey.shopper_id == shopper_id,
                AbandonmentSurvey.asked_at > now - PER_SHOPPER,
            )
            .limit(1)
        )
        is not None
    )


def cart_value(cart: Cart) -> int | None:
    """The cart's subtotal in yen when it was left; None if it is not known."""
    data = cart.data or {}
    subtotal = data.get("subtotal")
    if not data.get("items") or isinstance(subtotal, bool) or not isinstance(subtotal, int):
        return None
    return subtotal


def plan_surveys(session: Session, book: ScenarioBook, now: datetime) -> int:
    """Plan the question for every cart ready for it; returns how many were planned."""
    survey = book.get(SURVEY_SCENARIO_ID)
    cart_scenarios = [s for s in book.triggered_by("cart.updated") if s.steps]
    if survey is None or not cart_scenarios:
        return 0
    planned = 0
    for flow, cart, trigger in _candidates(session, cart_scenarios, now):
        shopper = session.get(Shopper, flow.shopper_id)
        if shopper is None or not shopper.is_following or not shopper.marketing_opt_in:
            continue
        if _asked_recently(session, shopper.id, now):
            continue
        row = AbandonmentSurvey(
            shopper_id=shopper.id,
            cart_id=cart.cart_id,
            trigger=trigger,
            cart_value=cart_value(cart),
            asked_at=now,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            continue  # another sweep planned this cart just now
        deliveries.start_flow(
            session,
            shopper,
            survey,
            f"{SUBJECT_PREFIX}{cart.cart_id}",
            anchor=now,
            context={"survey_cart_id": cart.cart_id},
            now=now,
            restart=False,
        )
        planned += 1
    return planned


def plan_abandonment_surveys() -> int:
    """The periodic job: plan the abandoned-cart question where it is due."""
    with job_context("plan_abandonment_surveys") as services:
        planned = plan_surveys(
            services.db.session(), delivery_rules(services).book, services.clock.now()
        )
        if planned:
            log.info("abandoned-cart questions planned", extra={"count": planned})
        return planned


# -- the answer ------------------------------------------------------------------------------


def record_answer(session: Session, shopper: Shopper, reason: str, now: datetime) -> bool:
    """Store the reason on the shopper's open question; False if there is none to answer
    (never asked, or already answered: only the first tap counts)."""
    if reason not in CART_SURVEY_REASONS:
        return False
    latest = session.scalar(
        select(AbandonmentSurvey)
        .where(
            AbandonmentSurvey.shopper_id == shopper.id,
            AbandonmentSurvey.asked_at > now - PER_SHOPPER,
            AbandonmentSurvey.asked_at <= now,
        )
        .order_by(AbandonmentSurvey.asked_at.desc(), AbandonmentSurvey.id.desc())
        .limit(1)
    )
    if latest is None:
        return False
    # Conditional, so two taps handled at the same moment store (and thank) once.
    changed = session.execute(
        update(AbandonmentSurvey)
        .where(AbandonmentSurvey.id == latest.id, AbandonmentSurvey.reason.is_(None))
        .values(reason=reason, answered_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(changed)


def handle_postback_cart_survey(event: LineEvent, ctx: HandlerContext) -> None:
    """The shopper tapped a reason (`action=cart_survey&reason=<code>`): store it, thank once."""
    shopper = ctx.require_shopper()
    data = str(event.postback.data) if event.postback else ""
    reason = postback_params(data).get("reason", "")
    label = CART_SURVEY_REASONS.get(reason)
    now = ctx.clock.now()
    log_inbound(
        ctx.session,
        shopper,
        message_type="postback",
        text=f"カゴ落ちアンケート: {label or reason}"[:200],
        now=now,
        payload={"data": data},
        webhook_event_id=ctx.webhook_event_id,
    )
    if label is None:
        log.info("unknown survey reason", extra={"event_id": ctx.webhook_event_id})
        return
    if record_answer(ctx.session, shopper, reason, now):
        ctx.reply([text(THANKS)])
    else:
        # A second tap, or no open question: the first answer stands and was thanked.
        log.info("survey answer ignored", extra={"event_id": ctx.webhook_event_id})


__all__ = [
    "CART_SURVEY_ACTION",
    "SURVEY_SCENARIO",
    "handle_postback_cart_survey",
    "plan_abandonment_surveys",
    "plan_surveys",
    "record_answer",
    "with_survey",
]
