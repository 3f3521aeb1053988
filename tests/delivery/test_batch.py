"""The batch sender: one claim, decisions in memory, pushes on threads, one write per batch."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.settings import Settings
from bot.delivery import jobs as delivery_jobs
from bot.delivery.send_rules import ALREADY_ACCEPTED, RECHECK
from bot.delivery.sender import DeliverySender
from bot.line.gateway import (
    InMemoryLineGateway,
    LineClientError,
    LineError,
    LineServerError,
    Message,
    SendResult,
)
from bot.models import ConversationMessage, Delivery, DeliveryState, Flow
from tests.helpers.delivery import MUG, START, add_shopper, cart_body, order_body, pushes
from tests.helpers.line import SHOPPER_ID

M15 = timedelta(minutes=15)
# One marketing step that stays fresh for days, so a daily-cap postponement is not stale.
SCENARIOS = """
scenarios:
  cart_abandonment:
    title: カゴ落ちリマインド
    trigger: cart.updated
    category: marketing
    exit_on: [order.placed, cart.cleared]
    max_messages: 3
    steps:
      - {id: reminder, delay: 15m, template: cart_reminder, expires_after: 3d}
"""


@dataclass
class ScriptedLine(InMemoryLineGateway):
    """Fails pushes to chosen users: with threads, `fail_next` would hit a random push."""

    fail_for: dict[str, list[LineError]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def push(
        self,
        to: str,
        messages: Sequence[Message],
        *,
        retry_key: str | None = None,
        aggregation_unit: str | None = None,
    ) -> SendResult:
        with self._lock:
            errors = self.fail_for.get(to)
            if errors:
                raise errors.pop(0)
            return super().push(
                to, messages, retry_key=retry_key, aggregation_unit=aggregation_unit
            )


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    path = tmp_path / "scenarios.yaml"
    path.write_text(SCENARIOS, encoding="utf-8")
    return settings.with_changes(scenarios_path=path)


@pytest.fixture
def line() -> ScriptedLine:
    return ScriptedLine()


def user(n: int) -> str:
    return f"U{n:032x}"


def add_carts(shop, member: str, carts: list[str], n: int) -> None:
    """A linked shopper (LINE user `user(n)`) with one open cart per id."""
    add_shopper(shop.app, line_user_id=user(n), member_id=member)
    for cart_id in carts:
        assert (
            shop.event("cart.updated", cart_body(cart_id, [MUG]), member=member).status_code == 202
        )


def by_cart(shop) -> dict[str, list[Delivery]]:
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        rows = session.execute(
            select(Delivery, Flow.subject)
            .join(Flow, Flow.id == Delivery.flow_id)
            .order_by(Delivery.id)
        ).all()
    found: dict[str, list[Delivery]] = {}
    for delivery, subject in rows:
        found.setdefault(subject.removeprefix("cart:"), []).append(delivery)
    return found


def log_entries(shop) -> dict[int, ConversationMessage]:
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        rows = session.scalars(
            select(ConversationMessage).where(ConversationMessage.delivery_id.is_not(None))
        ).all()
    return {row.delivery_id: row for row in rows}


def test_one_batch_records_sent_capped_cancelled_and_failed(shop, line):
    shop.event("cart.updated", cart_body("CA"))  # the fixture's shopper, MEMBER
    add_carts(shop, "MB", ["CB1", "CB2", "CB3"], 2)  # three due reminders, daily cap is 2
    add_carts(shop, "MC", ["CC"], 3)  # orders while the batch is claimed
    add_carts(shop, "MD", ["CD"], 4)  # LINE refuses the push
    line.fail_for[user(4)] = [LineClientError("The property, 'to', is invalid", status=400)]
    shop.at(START + M15)
    with shop.app.app_context():
        assert delivery_jobs.dispatch_due_deliveries() == 6
    shop.event("order.placed", order_body("OC", "CC"), member="MC")
    assert shop.app.extensions["bot"].queues.deliveries.count == 1  # one job, the whole batch
    shop.run()

    rows = by_cart(shop)
    (a,) = rows["CA"]
    assert a.state is DeliveryState.SENT and a.attempts == 1 and a.line_request_id
    assert a.sent_at == START + M15 and a.reason is None
    b1, b2, b3 = rows["CB1"] + rows["CB2"] + rows["CB3"]
    assert [b1.state, b2.state] == [DeliveryState.SENT, DeliveryState.SENT]
    assert b3.state is DeliveryState.PENDING and b3.reason == "postponed: daily cap"
    assert b3.due_at == START.replace(day=2, hour=0)  # 09:00 in Tokyo, after quiet hours
    assert b3.attempts == 0
    (c,) = rows["CC"]
    assert c.state is DeliveryState.CANCELLED and c.reason == "ordered: OC"
    (d,) = rows["CD"]
    assert d.state is DeliveryState.FAILED and d.reason.startswith("LINE 400")
    assert d.attempts == 1

    assert sorted(p["to"] for p in pushes(line)) == sorted([SHOPPER_ID, user(2), user(2)])
    log = log_entries(shop)
    assert set(log) == {a.id, b1.id, b2.id, d.id}
    assert log[a.id].status == "sent" and log[a.id].line_request_id == a.line_request_id
    assert log[a.id].message_type == "flex" and "お買い物かご" in log[a.id].text
    assert log[a.id].payload["altText"] == log[a.id].text
    assert log[d.id].status == "failed" and "invalid" in log[d.id].error


def test_a_failed_push_does_not_use_up_the_daily_cap_of_its_batch(shop, line):
    add_carts(shop, "MB", ["CB1", "CB2", "CB3"], 2)
    line.fail_for[user(2)] = [LineServerError("boom", status=500)]  # the first of the three
    shop.at(START + M15)
    assert shop.tick() == 3
    b1, b2, b3 = (by_cart(shop)[c][0] for c in ("CB1", "CB2", "CB3"))
    assert b1.state is DeliveryState.PENDING and b1.reason.startswith("retrying")
    assert b2.state is DeliveryState.SENT
    # Decided as capped only by counting b1, which did not go out: decided again next tick.
    assert b3.state is DeliveryState.PENDING and b3.reason == RECHECK
    assert b3.due_at == START + M15
    shop.tick()
    assert by_cart(shop)["CB3"][0].state is DeliveryState.SENT
    shop.at(START + M15 + timedelta(seconds=5))
    shop.tick()
    b1 = by_cart(shop)["CB1"][0]
    assert b1.state is DeliveryState.PENDING and b1.reason == "postponed: daily cap"
    assert len(pushes(line)) == 2


def test_a_crash_after_the_pushes_sends_nothing_twice(app, shop, line, monkeypatch):
    shop.event("cart.updated", cart_body("CA"))
    add_carts(shop, "MB", ["CB1"], 2)
    shop.at(START + M15)

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed before the outcomes were written")

    with monkeypatch.context() as patch:
        patch.setattr(DeliverySender, "_record", crash)
        assert shop.tick() == 2
    assert len(pushes(line)) == 2  # both reached LINE …
    assert {d.state for d in shop.deliveries()} == {DeliveryState.SENDING}  # … nothing recorded

    lease = app.extensions["bot"].settings.delivery_lease_seconds
    assert shop.tick() == 0  # still within the lease
    shop.at(START + M15 + timedelta(seconds=lease + 1))
    assert shop.tick() == 2
    for delivery in shop.deliveries():
        assert delivery.state is DeliveryState.SENT
        assert delivery.reason == ALREADY_ACCEPTED
    assert sorted(p["to"] for p in pushes(line)) == sorted([SHOPPER_ID, user(2)])
    assert len(line.sent("push")) == 2  # the re-send was answered as a duplicate, not shown
