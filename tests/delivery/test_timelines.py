"""Freezegun timelines of every shipped scenario, end to end from the shop API to the pushes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.linking import service as linking
from bot.models import Conversion, DeliveryState, LinkSource
from bot.shoppers import service as shoppers
from tests.helpers.delivery import (
    MAMEZARA,
    MUG,
    START,
    add_shopper,
    alt_texts,
    cart_body,
    order_body,
    pushes,
)
from tests.helpers.line import SHOPPER_ID

M15 = timedelta(minutes=15)
DAY = timedelta(days=1)


def test_abandoned_cart_gets_three_reminders_at_15m_1d_3d(shop, line):
    assert shop.event("cart.updated", cart_body(items=[MUG, MAMEZARA])).status_code == 202
    shop.at(START + M15 - timedelta(seconds=1))
    assert shop.tick() == 0
    shop.at(START + M15)
    shop.tick()
    assert len(pushes(line)) == 1
    assert "お買い物かご" in alt_texts(line)[0] and "山田 花子" in alt_texts(line)[0]
    shop.at(START + DAY)
    shop.tick()
    shop.at(START + 3 * DAY)
    shop.tick()
    shop.at(START + 10 * DAY)
    shop.tick()
    sent = pushes(line)
    assert len(sent) == 3
    assert [d.step_id for d in shop.deliveries() if d.state is DeliveryState.SENT] == [
        "reminder",
        "incentive",
        "low_stock",
    ]
    # Only the item that really has 3 or fewer left is flagged in the last message.
    low = str(sent[2]["messages"][0])
    assert "残り2点" in low and "残り12点" not in low
    assert all(p["to"] == SHOPPER_ID for p in sent)


def test_order_at_any_point_cancels_the_rest(shop, line):
    shop.event("cart.updated", cart_body())
    shop.at(START + M15)
    shop.tick()
    shop.at(START + timedelta(hours=5))
    assert shop.event("order.placed", order_body()).status_code == 202
    shop.tick()  # the purchase thanks (transactional) goes out now
    shop.at(START + 5 * DAY)
    shop.tick()
    steps = {d.step_id: d for d in shop.deliveries()}
    assert steps["reminder"].state is DeliveryState.SENT
    assert steps["incentive"].state is DeliveryState.CANCELLED
    assert steps["low_stock"].state is DeliveryState.CANCELLED
    assert steps["incentive"].reason == "ordered: O1"
    assert [t for t in alt_texts(line) if "お買い物かご" in t] == [alt_texts(line)[0]]
    assert "ご注文ありがとうございます" in alt_texts(line)[1]
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        conversion = session.scalars(select(Conversion)).one()
    assert conversion.order_id == "O1" and conversion.amount == 5500
    assert conversion.delivery_ids == [steps["reminder"].id]
    assert conversion.scenario_id == "cart_abandonment"


def test_cart_change_restarts_the_clock_without_resending(shop, line):
    shop.event("cart.updated", cart_body())
    shop.at(START + M15)
    shop.tick()
    changed = START + timedelta(hours=2)
    shop.at(changed)
    shop.event("cart.updated", cart_body(items=[MUG, MAMEZARA]))
    shop.at(changed + M15)
    shop.tick()
    assert len(pushes(line)) == 1  # the first reminder is not sent again for the same cart
    shop.at(START + DAY)
    shop.tick()
    assert len(pushes(line)) == 1  # the old 1-day mark means nothing now
    shop.at(changed + DAY)
    shop.tick()
    assert len(pushes(line)) == 2
    assert shop.delivery("incentive").due_at == changed + DAY


def test_low_stock_step_is_skipped_without_a_really_low_item(shop, line):
    shop.event("cart.updated", cart_body(items=[MUG]))  # 12 left: not low
    for when in (M15, DAY, 3 * DAY):
        shop.at(START + when)
        shop.tick()
    low = shop.delivery("low_stock")
    assert low.state is DeliveryState.SKIPPED
    assert low.reason == "condition: no item has 3 or fewer left"
    assert len(pushes(line)) == 2


def test_quiet_hours_move_marketing_to_the_morning(shop, line):
    evening = START.replace(hour=11, minute=50)  # 20:50 in Tokyo; the reminder falls at 21:05
    shop.at(evening)
    shop.event("cart.updated", cart_body())
    shop.at(evening + M15)
    shop.tick()
    assert pushes(line) == []
    reminder = shop.delivery("reminder")
    assert reminder.state is DeliveryState.PENDING
    assert reminder.reason == "postponed: quiet hours"
    assert reminder.due_at == START.replace(day=2, hour=0)  # 09:00 Tokyo next day
    shop.at(reminder.due_at)
    shop.tick()
    assert len(pushes(line)) == 1


def test_daily_cap_postpones_and_skips_what_would_be_stale(app, shop, line):
    with app.app_context():
        app.extensions["bot"].settings = app.extensions["bot"].settings.with_changes(
            daily_marketing_cap=1
        )
    shop.event("cart.updated", cart_body("C1", [MUG]))
    shop.event("cart.updated", cart_body("C2", [MAMEZARA]))
    shop.at(START + M15)
    shop.tick()
    assert len(pushes(line)) == 1
    states = sorted(d.state.value for d in shop.deliveries() if d.step_id == "reminder")
    # The second reminder could only go tomorrow at 09:00, past its 12-hour freshness.
    assert states == ["sent", "skipped"]
    skipped = next(d for d in shop.deliveries() if d.state is DeliveryState.SKIPPED)
    assert skipped.reason == "postponed: daily cap; would be stale by then"


def test_opt_out_cancels_marketing_and_opt_in_only_helps_new_flows(shop, line):
    shop.event("cart.updated", cart_body("C1"))
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        shopper = shoppers.find_shopper(session, SHOPPER_ID)
        shoppers.set_marketing_opt_in(session, shopper, False, START)
        session.commit()
    assert {d.state for d in shop.deliveries()} == {DeliveryState.CANCELLED}
    assert {d.reason for d in shop.deliveries()} == {"opted out"}
    shop.at(START + DAY)
    shop.tick()
    assert pushes(line) == []
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        shopper = shoppers.find_shopper(session, SHOPPER_ID)
        shoppers.set_marketing_opt_in(session, shopper, True, START + DAY)
        session.commit()
    shop.tick()
    assert pushes(line) == []  # the old flow stays stopped
    shop.event("cart.updated", cart_body("C2", [MAMEZARA]))
    shop.at(START + DAY + M15)
    shop.tick()
    assert len(pushes(line)) == 1


def test_unfollow_stops_everything(shop, line):
    shop.event("order.placed", order_body("O9", "C-other"), at=START - M15)
    shop.event("cart.updated", cart_body())
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        shoppers.record_unfollow(session, SHOPPER_ID, START)
        session.commit()
    shop.at(START + 5 * DAY)
    shop.tick()
    assert pushes(line) == []
    assert {d.reason for d in shop.deliveries()} == {"unfollowed"}


def test_events_before_linking_start_the_flow_on_link(app, shop, line):
    other = "U" + "3" * 32
    add_shopper(app, line_user_id=other, member_id=None, name="佐藤 一郎")
    assert shop.event("cart.updated", cart_body("C7"), member="M777").status_code == 202
    shop.at(START + M15)
    shop.tick()
    assert pushes(line) == [] and shop.deliveries() == []
    shop.at(START + timedelta(minutes=40))
    with app.app_context():
        session = app.extensions["bot"].db.session()
        linking.link_member(session, "M777", other, START + timedelta(minutes=40), LinkSource.API)
        session.commit()
    shop.tick()
    sent = pushes(line)
    assert len(sent) == 1 and sent[0]["to"] == other
    assert "佐藤 一郎" in sent[0]["messages"][0]["altText"]


def test_out_of_order_events_do_not_resurrect_a_finished_flow(shop, line):
    shop.event("cart.updated", cart_body(), at=START)
    shop.at(START + timedelta(hours=1))
    shop.event("order.placed", order_body(), at=START + timedelta(hours=1))
    # A cart change from before the order arrives late.
    late = shop.event("cart.updated", cart_body(items=[MUG, MAMEZARA]), at=START + M15)
    assert late.status_code == 202
    shop.at(START + 5 * DAY)
    shop.tick()
    assert all("お買い物かご" not in text for text in alt_texts(line))
    assert {d.state for d in shop.deliveries() if d.scenario_id == "cart_abandonment"} == {
        DeliveryState.CANCELLED
    }


def test_post_purchase_chain(shop, line):
    shop.event("order.placed", order_body())
    shop.tick()
    assert "ご注文ありがとうございます" in alt_texts(line)[-1]
    shop.at(START + DAY)
    shop.event(
        "order.shipped",
        {
            "order_id": "O1",
            "carrier": "ヤマト運輸",
            "tracking_number": "4912-3456-7890",
            "tracking_url": "https://shop.example.jp/orders/O1/tracking",
            "estimated_delivery_date": "2025-07-04",
        },
    )
    shop.tick()
    assert "発送しました" in alt_texts(line)[-1]
    delivered = START + 3 * DAY
    shop.at(delivered)
    shop.event("order.delivered", {"order_id": "O1"})
    shop.at(delivered + 3 * DAY - timedelta(minutes=1))
    shop.tick()
    assert len(pushes(line)) == 2
    shop.at(delivered + 3 * DAY)
    shop.tick()
    assert "レビュー" in alt_texts(line)[-1]
    shop.at(delivered + 30 * DAY)
    shop.tick()
    assert "おすすめ" in alt_texts(line)[-1]
    assert len(pushes(line)) == 4


def test_restock_reaches_only_recent_abandoners(app, shop, line):
    buyer = "U" + "4" * 32
    add_shopper(app, line_user_id=buyer, member_id="M200", name="鈴木 次郎")
    shop.event("cart.updated", cart_body("C1", [MAMEZARA]))
    shop.event("cart.updated", cart_body("C2", [MAMEZARA]), member="M200")
    shop.event("order.placed", order_body("O2", "C2"), member="M200")
    shop.at(START + 10 * DAY)
    shop.tick()
    line.calls.clear()
    line.accepted_keys.clear()
    shop.event(
        "product.restocked",
        {
            "sku": "MAME-5",
            "name": "有田焼 豆皿5枚セット(花づくし)",
            "product_url": "https://shop.example.jp/items/MAME-5",
        },
        member=None,
    )
    shop.run()  # the background job finds the audience and plans the notices
    shop.tick()
    sent = pushes(line)
    assert [p["to"] for p in sent] == [SHOPPER_ID]
    assert "再入荷" in sent[0]["messages"][0]["altText"]


def test_same_items_again_within_cooldown_are_not_reminded(shop, line):
    shop.event("cart.updated", cart_body("C1", [MUG]))
    shop.at(START + M15)
    shop.tick()
    shop.event("cart.cleared", {"cart_id": "C1"})
    shop.at(START + timedelta(hours=2))
    shop.event("cart.updated", cart_body("C2", [MUG]))
    shop.at(START + timedelta(hours=3))
    shop.tick()
    assert len(pushes(line)) == 1
    with shop.app.app_context():
        from bot.delivery.engine import member_flows
        from bot.shoppers.service import find_shopper

        session = shop.app.extensions["bot"].db.session()
        flows = member_flows(session, find_shopper(session, SHOPPER_ID))
    c2 = next(f for f in flows if f["subject"] == "cart:C2")
    assert c2["end_reason"].startswith("cooldown")
