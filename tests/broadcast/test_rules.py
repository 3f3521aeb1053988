"""The engine's marketing rules per shopper in a broadcast, and the daily cap both ways."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time

from bot.line.gateway import InMemoryLineGateway
from bot.models import DeliveryState
from tests.helpers.broadcast import (
    NOON,
    add_shoppers,
    broadcast_row,
    make_broadcast,
    outcomes,
    recipient_states,
    run_sender,
    user_id,
)
from tests.helpers.console import open_ticket
from tests.helpers.delivery import START, cart_body, later


def test_a_chat_with_staff_defers_the_shopper_not_the_rest(app, line: InMemoryLineGateway):
    ids = add_shoppers(app, 3)
    with freeze_time(NOON):
        open_ticket(app, line_user_id=user_id(1), now=NOON)
        broadcast_id = make_broadcast(app)
        run_sender(app, broadcast_id)
    states = recipient_states(app, broadcast_id)
    assert states[ids[0]] == ("deferred", "postponed: chat is with staff")
    assert {states[i][0] for i in ids[1:]} == {"sent"}
    assert broadcast_row(app, broadcast_id).next_due_at == NOON + timedelta(minutes=30)


def test_broadcasts_count_towards_step_deliverys_daily_cap(shop, line: InMemoryLineGateway):
    # The shop fixture's shopper (linked, opted in) abandons a cart; two broadcasts reach them
    # before the 15-minute reminder is due: the cap of 2 is used up for the day.
    assert shop.event("cart.updated", cart_body()).status_code == 202
    for n in range(2):
        broadcast_id = make_broadcast(shop.app, send_at=START, key=f"cap-broadcast-{n:04d}")
        run_sender(shop.app, broadcast_id)
        assert outcomes(shop.app, broadcast_id) == {"sent": 1}
    shop.at(later(START, minutes=16))
    shop.tick()
    reminder = shop.delivery("reminder")
    # Tomorrow morning is past the reminder's expires_after (12h): skipped for the cap.
    assert reminder.state is DeliveryState.SKIPPED
    assert reminder.reason == "postponed: daily cap; would be stale by then"
    assert line.sent("push") == []


def test_step_deliveries_count_towards_a_broadcasts_daily_cap(shop, line: InMemoryLineGateway):
    assert shop.event("cart.updated", cart_body("C1")).status_code == 202
    assert shop.event("cart.updated", cart_body("C2")).status_code == 202
    shop.at(later(START, minutes=16))
    shop.tick()  # two cart reminders: the cap of 2
    assert len(line.sent("push")) == 2
    broadcast_id = make_broadcast(shop.app, send_at=shop.now)
    run_sender(shop.app, broadcast_id)
    assert list(recipient_states(shop.app, broadcast_id).values()) == [
        ("deferred", "postponed: daily cap")
    ]
    assert line.sent("multicast") == []
