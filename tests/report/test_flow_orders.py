"""Which flows count as ended in an order: the order's customer key names the shopper by
member id ("m:") or LINE user id ("u:"), exactly; the order falls after the flow's start point
and within the horizon; the order that started a flow does not count for it."""

from __future__ import annotations

from datetime import timedelta

from bot.models import Order
from bot.report.queries import flow_counts
from tests.helpers.report import PERIOD, T0, History


def _order(history: History, order_id: str, key: str, at) -> None:
    history.session.add(
        Order(
            order_id=order_id,
            customer_key=key,
            cart_id=None,
            total=1000,
            placed_at=at,
            updated_at=at,
        )
    )


def test_orders_match_flows_by_member_id_or_line_user_id(db):
    session = db.session()
    history = History(session)
    for n in range(1, 8):
        history.flow(n)
    hour = timedelta(hours=1)
    _order(history, "O1", "m:M1", T0 + hour)  # by member id
    _order(history, "O2", f"u:U{2:032d}", T0 + hour)  # by LINE user id
    _order(history, "O3", "M:M3", T0 + hour)  # not the member prefix: case matters
    _order(history, "O4", "m:M4", T0 - hour)  # before the cart was abandoned
    _order(history, "O5", "m:M5", T0 + timedelta(days=3))  # after the 2-day horizon
    _order(history, "O6", "x:M6", T0 + hour)  # neither kind of key
    _order(history, "O7", "m:M7x", T0 + hour)  # another member's id
    session.flush()

    counts = flow_counts(session, PERIOD, {"cart": timedelta(days=2)})["cart"]

    assert (counts.treated.flows, counts.treated.ordered) == (7, 2)


def test_the_order_that_started_a_flow_does_not_count(db):
    session = db.session()
    history = History(session)
    flow = history.flow(1)
    flow.subject = "order:O1"
    history.flow(2).subject = "order:O2"
    _order(history, "O1", "m:M1", T0 + timedelta(hours=1))
    _order(history, "O9", "m:M2", T0 + timedelta(hours=1))
    session.flush()

    counts = flow_counts(session, PERIOD, {"cart": timedelta(days=2)})["cart"]

    assert (counts.all.flows, counts.all.ordered) == (2, 1)
