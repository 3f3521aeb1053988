"""A multicast step (`multicast: true`): restock notices that are the same for every shopper go
out as one multicast, not one push each, and a crash never sends a group twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from bot.app import create_app
from bot.delivery import multicast
from bot.delivery.jobs import DEAD_SENDER
from bot.delivery.scenarios import ScenarioError, parse_scenarios
from bot.delivery.send_rules import ALREADY_ACCEPTED
from bot.delivery.sender import DeliverySender
from bot.models import Delivery, DeliveryState, Shopper
from tests.helpers.delivery import (
    MAMEZARA,
    MEMBER,
    MULTICAST_RESTOCK,
    RESTOCK_EVENT,
    START,
    add_shopper,
    cart_body,
    pushes,
)
from tests.helpers.line import SHOPPER_ID

OTHERS = [("U" + "b" * 32, "M2", "佐藤 次郎"), ("U" + "c" * 32, "M3", "鈴木 三郎")]


@pytest.fixture
def app(settings, db, redis, line, tmp_path: Path) -> Flask:
    path = tmp_path / "scenarios.yaml"
    path.write_text(MULTICAST_RESTOCK, encoding="utf-8")
    return create_app(
        settings.with_changes(scenarios_path=path, quiet_hours=None),
        line=line,
        redis=redis,
        database=db,
    )


def _restock(shop, members: list[str]) -> None:
    for n, member in enumerate(members):
        shop.event("cart.updated", cart_body(f"C{n}", [MAMEZARA]), member=member)
    shop.at(START + timedelta(days=2))
    shop.event("product.restocked", RESTOCK_EVENT, member=None, event_id="restock-1")
    shop.run()  # the fan-out job starts the flows


def _deliveries(shop) -> list[Delivery]:
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def _add_others(app) -> list[str]:
    for user_id, member, name in OTHERS:
        add_shopper(app, line_user_id=user_id, member_id=member, name=name)
    return [MEMBER, *(member for _, member, _ in OTHERS)]


def test_the_same_notice_goes_out_as_one_multicast(app, shop, line):
    _restock(shop, _add_others(app))
    assert shop.tick() == 3
    (sent,) = line.sent("multicast")
    assert sorted(sent["to"]) == sorted([SHOPPER_ID, *(u for u, _, _ in OTHERS)])
    assert pushes(line) == []
    text = str(sent["messages"])
    assert "豆皿" in text
    assert "山田" not in text and "佐藤" not in text  # nobody's name in a shared message
    rows = _deliveries(shop)
    assert {r.state for r in rows} == {DeliveryState.SENT}
    assert {r.message_id for r in rows} == {multicast.PREFIX + sent["retry_key"]}


def test_one_shopper_alone_gets_a_push(shop, line):
    _restock(shop, [MEMBER])
    assert shop.tick() == 1
    assert line.sent("multicast") == []
    assert len(pushes(line)) == 1


def test_an_opted_out_shopper_is_left_out_of_the_group(app, shop, line):
    members = _add_others(app)
    with app.app_context():
        session = app.extensions["bot"].db.session()
        session.scalars(
            select(Shopper).where(Shopper.member_id == "M2")
        ).one().marketing_opt_in = False
        session.commit()
    _restock(shop, members)
    shop.tick()
    (sent,) = line.sent("multicast")
    assert len(sent["to"]) == 2 and OTHERS[0][0] not in sent["to"]
    states = {r.shopper_id: r.state for r in _deliveries(shop)}
    assert sorted(s.value for s in states.values()) == ["cancelled", "sent", "sent"]


def test_a_crash_after_the_request_never_sends_the_group_twice(app, shop, line, monkeypatch):
    _restock(shop, _add_others(app))
    record = DeliverySender._record
    calls = {"n": 0}

    def crash_once(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:  # LINE took the multicast; the worker dies before the write
            raise RuntimeError("killed")
        return record(self, *args, **kwargs)

    monkeypatch.setattr(DeliverySender, "_record", crash_once)
    shop.tick()
    rows = _deliveries(shop)
    assert {r.state for r in rows} == {DeliveryState.SENDING}
    marks = {r.message_id for r in rows}
    assert len(marks) == 1 and next(iter(marks)).startswith(multicast.PREFIX)
    # The sender is dead: its alive keys lapse, and the rows are claimed again.
    shop.app.extensions["bot"].redis.flushdb()
    shop.at(START + timedelta(days=2) + DEAD_SENDER + timedelta(seconds=1))
    assert shop.tick() == 3
    requests = line.sent("multicast")
    assert len(requests) == 1  # the second went to LINE's retry key: answered as a duplicate
    rows = _deliveries(shop)
    assert {(r.state, r.reason) for r in rows} == {(DeliveryState.SENT, ALREADY_ACCEPTED)}
    assert {r.message_id for r in rows} == marks


def test_a_group_cut_short_by_a_dead_batch_goes_out_whole_once(app, shop, line, monkeypatch):
    """The request never left: the rows come back marked and the whole group is sent."""
    _restock(shop, _add_others(app))
    monkeypatch.setattr(
        DeliverySender,
        "multicast_all",
        lambda self, groups, deadline: (_ for _ in ()).throw(
            RuntimeError("killed before the request")
        ),
    )
    shop.tick()
    assert line.sent("multicast") == []
    monkeypatch.undo()
    shop.app.extensions["bot"].redis.flushdb()
    shop.at(START + timedelta(days=2) + DEAD_SENDER + timedelta(seconds=1))
    assert shop.tick() == 3
    (sent,) = line.sent("multicast")
    assert len(sent["to"]) == 3
    assert {r.state for r in _deliveries(shop)} == {DeliveryState.SENT}


def test_multicast_is_for_line_only_steps():
    both = "multicast: true, channels: [line, email]}"
    text = MULTICAST_RESTOCK.replace("multicast: true}", both)
    with pytest.raises(ScenarioError, match="multicast"):
        parse_scenarios(text, "<t>")
