"""The rules a delivery must pass right now before it goes out, as decisions from data.

Nothing here reads or writes the database or talks to LINE: the batch sender reads the facts
(`BatchState`), asks these functions what to do with each delivery and with each push's
outcome, and records the answers. Quiet hours and the daily cap are counted in shop-local
time; everything else in aware UTC.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.core.settings import QuietHours, Settings
from bot.delivery import channels as channel_rules
from bot.delivery.channels import LINE, LINE_ONLY, Choice, Reach
from bot.delivery.scenarios import ScenarioBook, Step
from bot.delivery.segments import SegmentState
from bot.line.gateway import LineClientError, LineError, LineMonthlyLimit, Message
from bot.models import Cart, CartState, Delivery, Flow, FlowState, FollowState, Order, Shopper

if TYPE_CHECKING:
    from flex_templates import TemplateRegistry

MAX_ATTEMPTS = 10
BACKOFF_SECONDS = (5, 15, 60, 120, 300, 600, 1200, 1800, 3600)
STAFF_RECHECK = timedelta(minutes=30)
MONTHLY_LIMIT_RECHECK = timedelta(hours=1)
ALREADY_ACCEPTED = "already accepted by LINE (retry key)"
RECHECK = "re-check: an earlier message of this batch was not sent"
OUT_OF_TIME = "batch time limit: sent on the next tick"


@dataclass(frozen=True)
class Decision:
    """What to do with a claimed delivery."""

    action: str  # "send", "postpone", "skip", "cancel", "fail"
    reason: str | None = None
    due_at: datetime | None = None
    message: Message | None = None
    channel: str | None = None  # None: as chosen for the delivery (or as it was)
    handoff: Any = None  # e-mail or SMS: what to hand over (bot.delivery.handoff)


@dataclass(frozen=True)
class Blocked:
    """A delivery that may not go out now, and the in-batch pushes that verdict relies on."""

    decision: Decision
    depends_on: tuple[int, ...] = ()


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
    # Member attributes and coupon messages: read only for steps that need them.
    segments: SegmentState = field(default_factory=SegmentState)
    # Channels (bot.delivery.channels): read only for shoppers of steps with more than LINE.
    reach: dict[int, Reach] = field(default_factory=dict)  # by shopper id
    chosen: dict[int, Choice] = field(default_factory=dict)  # by delivery id, as decided
    channel_today: dict[tuple[int, str], int] = field(default_factory=dict)  # e-mail, SMS
    configured: tuple[str, ...] = (LINE, channel_rules.EMAIL, channel_rules.SMS)

    def channel_of(self, delivery: Delivery) -> str:
        """The channel decided for the delivery in this batch (LINE unless chosen otherwise)."""
        choice = self.chosen.get(delivery.id)
        return choice.channel if choice is not None and choice.channel else LINE

    def count_send(
        self, delivery: Delivery, *, marketing: bool, now: datetime | None = None
    ) -> None:
        """Count a send before its push: later deliveries of the batch see it (and are
        re-checked if it does not go out)."""
        self.flow_sent[delivery.flow_id] = self.flow_sent.get(delivery.flow_id, 0) + 1
        self.tentative_by_flow[delivery.flow_id].append(delivery.id)
        if delivery.coupon and now is not None:
            self.segments.count_coupon(delivery, now)
        if marketing:
            shopper_id = delivery.shopper_id
            channel = self.channel_of(delivery)
            if channel == LINE:
                self.marketing_today[shopper_id] = self.marketing_today.get(shopper_id, 0) + 1
            else:
                key = (shopper_id, channel)
                self.channel_today[key] = self.channel_today.get(key, 0) + 1
            self.tentative_by_shopper[shopper_id].append(delivery.id)


# -- shop-local time ---------------------------------------------------------------------------


def local_midnight_after(now: datetime, settings: Settings) -> datetime:
    """The start of the shop-local day after the one `now` falls in (aware UTC)."""
    local = now.astimezone(settings.tz)
    next_day = (local + timedelta(days=1)).date()
    return datetime.combine(next_day, datetime.min.time(), tzinfo=settings.tz).astimezone(UTC)


def local_day_start(now: datetime, settings: Settings) -> datetime:
    """The start of the shop-local day `now` falls in (aware UTC)."""
    local = now.astimezone(settings.tz)
    start = datetime.combine(local.date(), datetime.min.time(), tzinfo=settings.tz)
    return start.astimezone(UTC)


def quiet_hours_of(channel: str, settings: Settings) -> QuietHours | None:
    """The quiet hours of a channel (EMAIL_QUIET_HOURS, SMS_QUIET_HOURS; LINE: QUIET_HOURS)."""
    if channel == channel_rules.EMAIL:
        return settings.email_quiet_hours
    if channel == channel_rules.SMS:
        return settings.sms_quiet_hours
    return settings.quiet_hours


def quiet_until(at: datetime, settings: Settings, *, channel: str = LINE) -> datetime | None:
    """The end of the quiet period `at` falls in (aware UTC), or None outside quiet hours."""
    quiet = quiet_hours_of(channel, settings)
    if quiet is None:
        return None
    local = at.astimezone(settings.tz)
    if not quiet.contains(local.time()):
        return None
    end = datetime.combine(local.date(), quiet.end, tzinfo=settings.tz)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(UTC)


# -- stock -----------------------------------------------------------------------------------


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


# -- before the push -------------------------------------------------------------------------


def is_marketing(delivery: Delivery, book: ScenarioBook, templates: TemplateRegistry) -> bool:
    """True if the delivery counts as marketing (consent, quiet hours and the cap apply)."""
    if delivery.marketing:
        return True
    # The scenario as configured now: a row planned before its step became marketing
    # (it makes an offer) follows the current rule.
    scenario = book.get(delivery.scenario_id)
    if scenario is not None and any(
        s.id == delivery.step_id and s.marketing for s in scenario.steps
    ):
        return True
    try:
        return templates.is_marketing(delivery.template)
    except Exception:  # unknown template: the render fails later and says so
        return False


def check(
    delivery: Delivery,
    state: BatchState,
    book: ScenarioBook,
    settings: Settings,
    now: datetime,
    *,
    marketing: bool,
) -> Step | Blocked:
    """The delivery's step if the flow, the shopper and the scenario still allow it now.

    Otherwise the cancel, skip or postponement, with the in-batch pushes it relies on: a skip
    for max_messages or a postponement for the daily cap only holds if those pushes went out.
    """
    flow = state.flows.get(delivery.flow_id)
    shopper = state.shoppers.get(delivery.shopper_id)
    if flow is None or shopper is None:
        return Blocked(Decision("cancel", "flow or shopper removed"))
    if flow.state is FlowState.ENDED:
        return Blocked(Decision("cancel", flow.end_reason or "flow ended"))
    scenario = book.get(delivery.scenario_id)
    step: Step | None = None
    if scenario is not None:
        step = next((s for s in scenario.steps if s.id == delivery.step_id), None)
    line_only = step is None or step.channels == LINE_ONLY
    if line_only and shopper.follow_state is FollowState.NOT_ON_LINE:
        return Blocked(Decision("cancel", "not on LINE: this step goes by LINE only"))
    if line_only and not shopper.is_following:
        return Blocked(Decision("cancel", "unfollowed"))
    if scenario is None:
        return Blocked(Decision("cancel", "scenario no longer configured"))
    if step is None:
        return Blocked(Decision("cancel", "step no longer configured"))
    channel = LINE
    if line_only:
        if marketing and not shopper.marketing_opt_in:
            return Blocked(Decision("cancel", "opted out"))
    else:
        reach = state.reach.get(shopper.id, channel_rules.NO_REACH)
        choice = channel_rules.choose(
            step.channels, shopper, reach, marketing=marketing, configured=state.configured
        )
        if choice.channel is None:
            verdict = channel_rules.line_verdict(step.channels, shopper, reach)
            if verdict is not None:
                return Blocked(Decision("cancel", verdict))
            return Blocked(Decision("skip", choice.reason))
        state.chosen[delivery.id] = choice
        channel = choice.channel
    if state.flow_sent.get(flow.id, 0) >= scenario.max_messages:
        return Blocked(
            Decision("skip", "max_messages: enough messages for this flow"),
            tuple(state.tentative_by_flow.get(flow.id, ())),
        )
    if delivery.expires_at is not None and now > delivery.expires_at:
        return Blocked(Decision("skip", f"stale: was due {delivery.due_at:%Y-%m-%d %H:%M} UTC"))
    if marketing:
        later = marketing_wait(state, shopper, settings, now, channel=channel)
        if later is not None:
            due, why, depends_on = later
            if delivery.expires_at is not None and due > delivery.expires_at:
                return Blocked(Decision("skip", f"{why}; would be stale by then"), depends_on)
            return Blocked(Decision("postpone", why, due_at=due), depends_on)
    return step


def marketing_wait(
    state: BatchState, shopper: Shopper, settings: Settings, now: datetime, *, channel: str = LINE
) -> tuple[datetime, str, tuple[int, ...]] | None:
    """Until when a marketing message to this shopper has to wait, why, and on which pushes.

    Each channel has its own quiet hours and daily cap; LINE's monthly limit and a chat
    with staff (on LINE) hold LINE messages only.
    """
    if channel == LINE and state.paused_until is not None:
        return state.paused_until, "postponed: LINE monthly limit reached", ()
    if channel == LINE and shopper.id in state.with_staff:
        return now + STAFF_RECHECK, "postponed: chat is with staff", ()
    quiet = quiet_until(now, settings, channel=channel)
    if quiet is not None:
        return quiet, "postponed: quiet hours" + ("" if channel == LINE else f" ({channel})"), ()
    sent_today = (
        state.marketing_today.get(shopper.id, 0)
        if channel == LINE
        else state.channel_today.get((shopper.id, channel), 0)
    )
    if sent_today >= settings.daily_marketing_cap:
        tomorrow = local_midnight_after(now, settings)
        due = quiet_until(tomorrow, settings, channel=channel) or tomorrow
        return (
            due,
            "postponed: daily cap",
            tuple(state.tentative_by_shopper.get(shopper.id, ())),
        )
    return None


def subject_decision(
    context: Mapping[str, Any],
    step: Step,
    *,
    carts: Mapping[str, Cart],
    orders: Mapping[str, Order],
    stock: Mapping[str, int],
) -> Decision | None:
    """A cancel or skip when the cart, order or item the flow is about makes the message moot."""
    if "cart_id" in context:
        cart = carts.get(context["cart_id"])
        if cart is None or cart.state is not CartState.OPEN:
            state = cart.state.value if cart else "gone"
            return Decision("cancel", f"cart {state}")
        items = with_latest_stock(list(cart.data.get("items") or []), stock)
        if items and all(sold_out(i) for i in items):
            # Nothing in the cart can be bought: a reminder would only disappoint.
            return Decision("skip", "condition: every item is sold out")
        if step.low_stock_at_most is not None and not low_stock_items(
            items, step.low_stock_at_most
        ):
            # Never fake scarcity: without a really low item this step is not sent.
            return Decision(
                "skip", f"condition: no item has {step.low_stock_at_most} or fewer left"
            )
    elif "order_id" in context:
        if orders.get(context["order_id"]) is None:
            return Decision("cancel", "order unknown")
    elif "item" in context and sold_out({"stock": stock.get(dict(context["item"]).get("sku"))}):
        # Restocked, then sold out again before the notice went out.
        return Decision("skip", "condition: sold out again")
    return None


# -- after the push --------------------------------------------------------------------------


def recheck(now: datetime) -> Decision:
    """The cap or max_messages was only reached by counting a push that did not go out:
    decide again on the next tick, from what was recorded."""
    return Decision("postpone", RECHECK, due_at=now)


def not_tried(now: datetime, *, held: bool) -> Decision:
    """A push the batch did not start: held for LINE's monthly limit, or out of time."""
    if held:
        return Decision("postpone", "LINE monthly limit", now + MONTHLY_LIMIT_RECHECK)
    return Decision("postpone", OUT_OF_TIME, now)


def after_push_error(exc: LineError, attempts: int, now: datetime) -> Decision:
    """What a failed push leads to, `attempts` counting this one."""
    if isinstance(exc, LineMonthlyLimit):
        # Not the message's fault: its retries are not used up (the caller keeps the count).
        return Decision("postpone", "LINE monthly limit", now + MONTHLY_LIMIT_RECHECK)
    if isinstance(exc, LineClientError):
        return Decision("fail", f"LINE {exc.status}: {exc}")
    if not exc.retriable or attempts >= MAX_ATTEMPTS:
        return Decision("fail", f"gave up: {exc}")
    wait = BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1]
    wait = max(wait, exc.retry_after or 0)
    reason = f"retrying: {type(exc).__name__} {exc.status or ''}".strip()
    return Decision("postpone", reason, now + timedelta(seconds=wait))
