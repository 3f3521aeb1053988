"""Hand-made delivery history for the report's tests: rows written directly, so every figure
the report prints can be worked out by hand from this file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.delivery.aggregation import aggregation_unit
from bot.delivery.scenarios import ScenarioBook, parse_scenarios
from bot.models import (
    AbandonmentSurvey,
    Click,
    Conversion,
    Delivery,
    DeliveryState,
    Flow,
    FlowState,
    FollowState,
    MessageInsight,
    Order,
    Shopper,
)
from bot.report.queries import Period

TOKYO = ZoneInfo("Asia/Tokyo")
PERIOD = Period(date(2025, 7, 1), date(2025, 7, 30), TOKYO)
NOW = datetime(2025, 7, 30, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo
T0 = datetime(2025, 7, 10, 1, 0, tzinfo=UTC)  # the carts are abandoned at 10:00 Tokyo

SCENARIOS = """
scenarios:
  cart:
    title: カゴ落ち
    trigger: cart.updated
    attribution_window: 2d
    holdout: 10%
    steps:
      - id: s1
        delay: 15m
        template: cart_reminder
      - id: s2
        delay: 1d
        template: cart_reminder
        variants:
          - name: A
          - name: B
          - name: C
"""


def book() -> ScenarioBook:
    return parse_scenarios(SCENARIOS, "<test>")


@dataclass
class History:
    """Writes shoppers, flows, deliveries, clicks and orders; keeps the ids by name."""

    session: Session
    shoppers: dict[int, Shopper] = field(default_factory=dict)
    flows: dict[int, Flow] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)

    def shopper(self, n: int) -> Shopper:
        if n not in self.shoppers:
            shopper = Shopper(
                line_user_id=f"U{n:032d}",
                follow_state=FollowState.FOLLOWING,
                follow_count=1,
                member_id=f"M{n}",
                marketing_opt_in=True,
                created_at=T0 - timedelta(days=30),
                updated_at=T0,
            )
            self.session.add(shopper)
            self.session.flush()
            self.shoppers[n] = shopper
        return self.shoppers[n]

    def flow(self, n: int, *, started: datetime = T0) -> Flow:
        if n not in self.flows:
            flow = Flow(
                shopper_id=self.shopper(n).id,
                scenario_id="cart",
                subject=f"cart:C{n}",
                state=FlowState.ACTIVE,
                anchor_at=started,
                context={},
                started_at=started,
            )
            self.session.add(flow)
            self.session.flush()
            self.flows[n] = flow
        return self.flows[n]

    def delivery(
        self,
        name: str,
        n: int,
        step: str,
        *,
        variant: str | None = None,
        state: DeliveryState = DeliveryState.SENT,
        due: datetime,
        reason: str | None = None,
    ) -> Delivery:
        delivery = Delivery(
            flow_id=self.flow(n).id,
            shopper_id=self.shopper(n).id,
            scenario_id="cart",
            step_id=step,
            step_index=0 if step == "s1" else 1,
            template="cart_reminder",
            variant=variant,
            marketing=True,
            state=state,
            due_at=due,
            reason=reason,
            sent_at=due if state is DeliveryState.SENT else None,
            created_at=T0,
            updated_at=due,
        )
        self.session.add(delivery)
        self.session.flush()
        self.deliveries[name] = delivery
        return delivery

    def click(self, name: str, at: datetime) -> None:
        delivery = self.deliveries[name]
        self.session.add(
            Click(
                delivery_id=delivery.id,
                shopper_id=delivery.shopper_id,
                campaign="cart",
                content=delivery.step_id,
                url="https://shop.example.jp/cart",
                clicked_at=at,
            )
        )

    def order(self, order_id: str, n: int, total: int, at: datetime, via: list[str]) -> None:
        """An order of shopper n; `via`: the deliveries the engine attributed it to."""
        self.session.add(
            Order(
                order_id=order_id,
                customer_key=f"m:M{n}",
                cart_id=f"C{n}",
                total=total,
                placed_at=at,
                updated_at=at,
            )
        )
        if via:
            self.session.add(
                Conversion(
                    order_id=order_id,
                    shopper_id=self.shopper(n).id,
                    scenario_id="cart",
                    amount=total,
                    delivery_ids=[self.deliveries[name].id for name in via],
                    ordered_at=at,
                    created_at=at,
                )
            )

    def insight(self, step: str, variant: str | None, day: date, opens: int | None) -> None:
        self.session.add(
            MessageInsight(
                unit=aggregation_unit("cart", step, variant),
                day=day,
                unique_impressions=opens,
                unique_clicks=None,
                fetched_at=NOW,
            )
        )


S1 = T0 + timedelta(minutes=15)
S2 = T0 + timedelta(days=1)


def write_history(session: Session) -> History:
    """The fixture every figure of tests/report/test_figures.py is worked out from.

    Shoppers 1-4 get both steps (2 on variant A, 2 on B; nobody on C); shopper 5's first step
    was skipped (quiet hours), shopper 6's cancelled (ordered); 7 and 8 are in the holdout.
    """
    h = History(session)
    for n in (1, 2, 3, 4):
        h.delivery(f"s1_{n}", n, "s1", due=S1)
        h.delivery(f"s2_{n}", n, "s2", variant="A" if n <= 2 else "B", due=S2)
    h.delivery("s1_5", 5, "s1", state=DeliveryState.SKIPPED, due=S1, reason="quiet_hours: 22:00")
    h.delivery("s1_6", 6, "s1", state=DeliveryState.CANCELLED, due=S1, reason="ordered: O6")
    for n in (7, 8):
        h.delivery(f"s1_{n}", n, "s1", state=DeliveryState.SKIPPED, due=S1, reason="holdout")
        h.flows[n].state, h.flows[n].end_reason = FlowState.ENDED, "holdout"
    # Before the period (30 June, 23:00 Tokyo): counted nowhere.
    h.flow(9, started=datetime(2025, 6, 30, 13, 0, tzinfo=UTC))
    h.delivery("old", 9, "s1", due=datetime(2025, 6, 30, 14, 0, tzinfo=UTC))
    # Clicks: shopper 1 twice on s1 (one shopper), shopper 2 once; shopper 1 on s2/A.
    h.click("s1_1", S1 + timedelta(minutes=5))
    h.click("s1_1", S1 + timedelta(hours=2))
    h.click("s1_2", S1 + timedelta(minutes=30))
    h.click("s2_1", S2 + timedelta(minutes=10))
    h.click("old", datetime(2025, 6, 30, 15, 0, tzinfo=UTC))
    # Orders: O1 after s1 and s2/A; O2 after s1 of shopper 3; O3 after s1 and s2/B of 3.
    h.order("O1", 1, 5000, S2 + timedelta(hours=1), ["s1_1", "s2_1"])
    h.order("O2", 3, 3000, S1 + timedelta(hours=3), ["s1_3"])
    h.order("O3", 3, 1000, S2 + timedelta(hours=2), ["s1_3", "s2_3"])
    h.order("O6", 6, 4000, T0 + timedelta(minutes=5), [])  # before any message
    h.order("O7", 7, 2000, T0 + timedelta(days=2), [])  # a holdout shopper buys anyway
    h.order("O9", 9, 9999, datetime(2025, 6, 30, 16, 0, tzinfo=UTC), ["old"])
    # Opt-out 23 h after shopper 2's first step; shopper 4 blocks exactly 24 h after s2.
    h.shoppers[2].marketing_opt_in = False
    h.shoppers[2].opt_in_changed_at = S1 + timedelta(hours=23)
    h.shoppers[4].follow_state = FollowState.BLOCKED
    h.shoppers[4].blocked_at = S2 + timedelta(hours=24)
    # LINE's opens: s1 30 on one day and hidden the next; s2/A hidden only; s2/B not fetched.
    h.insight("s1", None, date(2025, 7, 10), 30)
    h.insight("s1", None, date(2025, 7, 11), None)
    h.insight("s1", None, date(2025, 6, 30), 100)  # outside the period
    h.insight("s2", "A", date(2025, 7, 11), None)
    # Why carts were left: two weeks, three value bands, one unanswered, one before the period.
    for n, (asked, value, reason) in enumerate(
        [
            (datetime(2025, 7, 8, 3, 0, tzinfo=UTC), 2500, "shipping_fee"),  # Tue, week of 7
            (datetime(2025, 7, 9, 3, 0, tzinfo=UTC), 4800, "shipping_fee"),
            (datetime(2025, 7, 13, 14, 30, tzinfo=UTC), 12000, "comparing"),  # Sun 23:30 JST
            (datetime(2025, 7, 13, 15, 30, tzinfo=UTC), 6000, None),  # Mon 00:30 JST
            (datetime(2025, 7, 15, 3, 0, tzinfo=UTC), None, "payment"),
            (datetime(2025, 6, 30, 3, 0, tzinfo=UTC), 2000, "shipping_fee"),  # before
        ]
    ):
        session.add(
            AbandonmentSurvey(
                shopper_id=h.shopper(1).id,
                cart_id=f"S{n}",
                trigger="last_reminder",
                cart_value=value,
                asked_at=asked,
                reason=reason,
                answered_at=asked + timedelta(minutes=3) if reason else None,
            )
        )
    session.commit()
    return h


def write_clear_winner(session: Session) -> History:
    """Step s2: 100 messages on A with 2 orders, 100 on B with 30: B wins beyond doubt."""
    h = History(session)
    for n in range(100, 300):
        variant = "A" if n < 200 else "B"
        name = f"s2_{n}"
        h.delivery(name, n, "s2", variant=variant, due=S2)
        if (variant == "A" and n < 102) or (variant == "B" and n < 230):
            h.order(f"O{n}", n, 3000, S2 + timedelta(hours=5), [name])
    session.commit()
    return h


def scenario_file(tmp_path) -> str:
    """The test scenarios as a file the app can be started with."""
    path = tmp_path / "scenarios.yaml"
    path.write_text(SCENARIOS, encoding="utf-8")
    return path


# The table cell of s2 / A's opens in the report page.
HIDDEN_TEXT_ROW = "tr[data-step='s2'][data-variant='A'] td.opened"
