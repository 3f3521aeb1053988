"""The send rules on their own: decisions from plain data, no database and no LINE."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from bot.core.settings import QuietHours, Settings
from bot.delivery import send_rules
from bot.delivery.scenarios import Scenario, ScenarioBook, Step
from bot.delivery.send_rules import (
    BACKOFF_SECONDS,
    MAX_ATTEMPTS,
    OUT_OF_TIME,
    RECHECK,
    BatchState,
    Blocked,
    Decision,
)
from bot.line.gateway import (
    LineClientError,
    LineMonthlyLimit,
    LineRateLimited,
    LineServerError,
    LineTimeout,
)
from bot.models import Cart, CartState, Delivery, Flow, FlowState, FollowState, Order, Shopper

# 12:00 in Tokyo (03:00 UTC): outside the default quiet hours 21:00-09:00.
NOON = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
SETTINGS = Settings(env="test")
STEP = Step("remind", 0, timedelta(hours=1), "cart_reminder", True, timedelta(days=1))
SCENARIO = Scenario(
    id="cart",
    title="カゴ落ち",
    trigger="cart.updated",
    steps=(STEP,),
    exit_on=frozenset(),
    attribution_window=timedelta(days=7),
    max_messages=2,
)
BOOK = ScenarioBook((SCENARIO,))


def tokyo(hour: int, minute: int = 0, day: int = 10) -> datetime:
    """A Tokyo wall-clock time on a March 2026 day, as aware UTC."""
    return datetime(2026, 3, day, hour, minute, tzinfo=SETTINGS.tz).astimezone(UTC)


def delivery(**changes: Any) -> Delivery:
    values: dict[str, Any] = {
        "id": 1,
        "flow_id": 10,
        "shopper_id": 100,
        "scenario_id": "cart",
        "step_id": "remind",
        "template": "cart_reminder",
        "marketing": True,
        "due_at": NOON - timedelta(minutes=5),
        "expires_at": NOON + timedelta(days=1),
        "attempts": 0,
    }
    return Delivery(**{**values, **changes})


def state(**changes: Any) -> BatchState:
    values: dict[str, Any] = {
        "flows": {10: Flow(id=10, state=FlowState.ACTIVE, context={"cart_id": "C1"})},
        "shoppers": {
            100: Shopper(id=100, follow_state=FollowState.FOLLOWING, marketing_opt_in=True)
        },
        "flow_sent": {},
        "marketing_today": {},
        "with_staff": set(),
        "paused_until": None,
        "carts": {},
        "orders": {},
    }
    return BatchState(**{**values, **changes})


def check(d: Delivery, s: BatchState, now: datetime = NOON) -> Step | Blocked:
    return send_rules.check(d, s, BOOK, SETTINGS, now, marketing=d.marketing)


# -- shop-local time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "until"),
    [
        (tokyo(12), None),
        (tokyo(8, 59), tokyo(9)),
        (tokyo(9), None),
        (tokyo(21), tokyo(9, day=11)),  # wraps past midnight
        (tokyo(23, 30), tokyo(9, day=11)),
        (tokyo(0, 30, day=11), tokyo(9, day=11)),
    ],
)
def test_quiet_until_the_end_of_the_local_window(at: datetime, until: datetime | None) -> None:
    assert send_rules.quiet_until(at, SETTINGS) == until


def test_no_quiet_hours_means_never_quiet() -> None:
    assert send_rules.quiet_until(tokyo(23), SETTINGS.with_changes(quiet_hours=None)) is None


def test_a_daytime_window_does_not_wrap() -> None:
    lunch = SETTINGS.with_changes(quiet_hours=QuietHours(time(12), time(13)))
    assert send_rules.quiet_until(tokyo(12, 30), lunch) == tokyo(13)
    assert send_rules.quiet_until(tokyo(23), lunch) is None


def test_the_local_day_starts_at_local_midnight() -> None:
    # 01:00 in Tokyo on the 11th is still the 10th in UTC; the day is Tokyo's.
    assert send_rules.local_day_start(tokyo(1, day=11), SETTINGS) == tokyo(0, day=11)
    assert send_rules.local_midnight_after(tokyo(23, day=10), SETTINGS) == tokyo(0, day=11)


# -- stock -----------------------------------------------------------------------------------


def test_stock_rules() -> None:
    items = [
        {"sku": "A", "stock": 0},
        {"sku": "B", "stock": 2},
        {"sku": "C"},
        {"sku": "D", "stock": True},  # not a count
    ]
    assert [send_rules.sold_out(i) for i in items] == [True, False, False, False]
    assert send_rules.low_stock_items(items, 3) == [{"sku": "B", "stock": 2}]
    assert send_rules.with_latest_stock(items[:3], {"B": 0, "C": 5}) == [
        {"sku": "A", "stock": 0},
        {"sku": "B", "stock": 0},
        {"sku": "C", "stock": 5},
    ]


# -- before the push -------------------------------------------------------------------------


def test_a_delivery_that_passes_every_check_gets_its_step() -> None:
    assert check(delivery(), state()) is STEP


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"flows": {}}, "flow or shopper removed"),
        (
            {"flows": {10: Flow(id=10, state=FlowState.ENDED, end_reason="cart ordered")}},
            "cart ordered",
        ),
        (
            {"shoppers": {100: Shopper(id=100, follow_state=FollowState.BLOCKED)}},
            "unfollowed",
        ),
        (
            {
                "shoppers": {
                    100: Shopper(id=100, follow_state=FollowState.FOLLOWING, marketing_opt_in=False)
                }
            },
            "opted out",
        ),
    ],
)
def test_what_cancels_a_delivery(change: dict[str, Any], reason: str) -> None:
    assert check(delivery(), state(**change)) == Blocked(Decision("cancel", reason))


def test_a_scenario_or_step_no_longer_configured_cancels() -> None:
    assert check(delivery(scenario_id="gone"), state()) == Blocked(
        Decision("cancel", "scenario no longer configured")
    )
    assert check(delivery(step_id="gone"), state()) == Blocked(
        Decision("cancel", "step no longer configured")
    )


def test_opting_out_does_not_stop_a_transactional_message() -> None:
    shopper = Shopper(id=100, follow_state=FollowState.FOLLOWING, marketing_opt_in=False)
    assert check(delivery(marketing=False), state(shoppers={100: shopper})) is STEP


def test_max_messages_skips_and_names_the_pushes_it_counted() -> None:
    s = state(flow_sent={10: 2})
    s.tentative_by_flow[10].extend([7, 8])
    assert check(delivery(), s) == Blocked(
        Decision("skip", "max_messages: enough messages for this flow"), (7, 8)
    )


def test_a_stale_delivery_is_skipped() -> None:
    d = delivery(
        expires_at=NOON - timedelta(seconds=1), due_at=datetime(2026, 3, 9, 3, 0, tzinfo=UTC)
    )
    assert check(d, state()) == Blocked(Decision("skip", "stale: was due 2026-03-09 03:00 UTC"))


def test_marketing_waits_for_a_monthly_limit_pause_then_for_staff() -> None:
    until = NOON + timedelta(hours=1)
    assert check(delivery(), state(paused_until=until, with_staff={100})) == Blocked(
        Decision("postpone", "postponed: LINE monthly limit reached", due_at=until)
    )
    assert check(delivery(), state(with_staff={100})) == Blocked(
        Decision("postpone", "postponed: chat is with staff", due_at=NOON + timedelta(minutes=30))
    )
    # A transactional message waits for neither.
    assert check(delivery(marketing=False), state(paused_until=until, with_staff={100})) is STEP


def test_marketing_waits_for_the_end_of_quiet_hours() -> None:
    assert check(delivery(), state(), now=tokyo(22)) == Blocked(
        Decision("postpone", "postponed: quiet hours", due_at=tokyo(9, day=11))
    )
    assert check(delivery(marketing=False), state(), now=tokyo(22)) is STEP


def test_over_the_daily_cap_marketing_waits_for_tomorrow_morning() -> None:
    s = state(marketing_today={100: SETTINGS.daily_marketing_cap})
    s.tentative_by_shopper[100].append(5)
    # Tomorrow's midnight is in quiet hours, so it goes out when they end.
    assert check(delivery(expires_at=None), s) == Blocked(
        Decision("postpone", "postponed: daily cap", due_at=tokyo(9, day=11)), (5,)
    )


def test_a_wait_past_the_expiry_skips_instead() -> None:
    d = delivery(expires_at=tokyo(23))
    assert check(d, state(), now=tokyo(22)) == Blocked(
        Decision("skip", "postponed: quiet hours; would be stale by then")
    )


def _cart(state: CartState = CartState.OPEN, items: list[dict[str, Any]] | None = None) -> Cart:
    items = [{"sku": "A", "name": "靴", "stock": 3}] if items is None else items
    return Cart(cart_id="C1", state=state, data={"url": "https://shop.example/c", "items": items})


def subject(context: dict[str, Any], step: Step = STEP, **facts: Any) -> Decision | None:
    return send_rules.subject_decision(
        context,
        step,
        carts=facts.get("carts", {}),
        orders=facts.get("orders", {}),
        stock=facts.get("stock", {}),
    )


def test_an_open_cart_with_something_to_buy_allows_the_message() -> None:
    assert subject({"cart_id": "C1"}, carts={"C1": _cart()}) is None


def test_a_closed_or_unknown_cart_cancels() -> None:
    assert subject({"cart_id": "C1"}) == Decision("cancel", "cart gone")
    closed = {"C1": _cart(CartState.ORDERED)}
    assert subject({"cart_id": "C1"}, carts=closed) == Decision("cancel", "cart ordered")


def test_a_cart_whose_items_are_all_sold_out_now_is_skipped() -> None:
    carts = {"C1": _cart()}
    assert subject({"cart_id": "C1"}, carts=carts, stock={"A": 0}) == Decision(
        "skip", "condition: every item is sold out"
    )


def test_a_low_stock_step_needs_a_really_low_item() -> None:
    low_step = Step("hurry", 1, timedelta(hours=1), "cart_reminder", True, timedelta(days=1))
    low_step = Step(**{**low_step.__dict__, "low_stock_at_most": 2})
    carts = {"C1": _cart()}  # 3 left
    assert subject({"cart_id": "C1"}, low_step, carts=carts) == Decision(
        "skip", "condition: no item has 2 or fewer left"
    )
    assert subject({"cart_id": "C1"}, low_step, carts=carts, stock={"A": 2}) is None


def test_an_unknown_order_cancels() -> None:
    assert subject({"order_id": "O1"}) == Decision("cancel", "order unknown")
    assert subject({"order_id": "O1"}, orders={"O1": Order(order_id="O1")}) is None


def test_a_restock_notice_for_an_item_sold_out_again_is_skipped() -> None:
    context = {"item": {"sku": "A", "name": "靴"}}
    assert subject(context, stock={"A": 0}) == Decision("skip", "condition: sold out again")
    assert subject(context, stock={"A": 4}) is None
    assert subject(context) is None  # unknown stock is never sold out


def test_counting_a_send_is_seen_by_the_next_decision() -> None:
    s = state(flow_sent={10: 1})
    s.count_send(delivery(id=3), marketing=True)
    assert (s.flow_sent, s.marketing_today) == ({10: 2}, {100: 1})
    assert (s.tentative_by_flow[10], s.tentative_by_shopper[100]) == ([3], [3])
    assert check(delivery(id=4), s) == Blocked(
        Decision("skip", "max_messages: enough messages for this flow"), (3,)
    )
    s.count_send(delivery(id=5, flow_id=11), marketing=False)
    assert s.marketing_today == {100: 1}


# -- after the push --------------------------------------------------------------------------


def test_what_a_failed_push_leads_to() -> None:
    monthly = send_rules.after_push_error(LineMonthlyLimit("quota", status=429), 1, NOON)
    assert monthly == Decision("postpone", "LINE monthly limit", NOON + timedelta(hours=1))
    bad = send_rules.after_push_error(LineClientError("bad", status=400), 1, NOON)
    assert bad == Decision("fail", "LINE 400: bad")
    busy = send_rules.after_push_error(LineServerError("down", status=503), 2, NOON)
    assert busy == Decision(
        "postpone", "retrying: LineServerError 503", NOON + timedelta(seconds=BACKOFF_SECONDS[1])
    )
    slow = send_rules.after_push_error(LineTimeout("no answer"), 1, NOON)
    assert slow == Decision("postpone", "retrying: LineTimeout", NOON + timedelta(seconds=5))


def test_retry_after_wins_over_a_shorter_backoff() -> None:
    limited = LineRateLimited("slow down", status=429, retry_after=90)
    decision = send_rules.after_push_error(limited, 1, NOON)
    assert decision.due_at == NOON + timedelta(seconds=90)


def test_the_last_attempt_gives_up() -> None:
    exc = LineServerError("down", status=500)
    assert send_rules.after_push_error(exc, MAX_ATTEMPTS, NOON) == Decision("fail", "gave up: down")
    assert send_rules.after_push_error(exc, MAX_ATTEMPTS - 1, NOON).action == "postpone"


def test_pushes_not_tried_and_rechecks_wait() -> None:
    assert send_rules.not_tried(NOON, held=True) == Decision(
        "postpone", "LINE monthly limit", NOON + timedelta(hours=1)
    )
    assert send_rules.not_tried(NOON, held=False) == Decision("postpone", OUT_OF_TIME, NOON)
    assert send_rules.recheck(NOON) == Decision("postpone", RECHECK, due_at=NOON)


class _Templates:
    """Stands in for the template registry: which templates carry an offer."""

    def is_marketing(self, name: str) -> bool:
        if name == "unknown":
            raise KeyError(name)
        return name == "coupon"


def test_what_counts_as_marketing() -> None:
    templates: Any = _Templates()
    transactional = Step("note", 0, timedelta(0), "order_note", False, timedelta(days=1))
    book = ScenarioBook((Scenario(**{**SCENARIO.__dict__, "steps": (STEP, transactional)}),))

    def marketing(**changes: Any) -> bool:
        return send_rules.is_marketing(delivery(**changes), book, templates)

    assert marketing(marketing=True, step_id="note")
    # A row planned before its step became marketing follows the scenario as it is now.
    assert marketing(marketing=False, step_id="remind")
    assert not marketing(marketing=False, step_id="note")
    assert marketing(marketing=False, step_id="note", template="coupon")
    assert not marketing(marketing=False, step_id="note", template="unknown")
