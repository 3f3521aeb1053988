"""The API contract, failure handling, dispatcher lease, tracking links, A/B and scenario files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from bot.core.metrics import MONTHLY_LIMIT
from bot.delivery import engine as deliveries
from bot.delivery import jobs as delivery_jobs
from bot.delivery.scenarios import ScenarioError, load_scenarios, parse_scenarios
from bot.line.gateway import (
    LineClientError,
    LineMonthlyLimit,
    LineRateLimited,
    LineServerError,
)
from bot.models import Click, DeliveryState, ShopEvent, SupportTicket, TicketReason
from bot.shoppers.service import find_shopper
from bot.support.escalation import escalate
from tests.helpers.delivery import MAMEZARA, MUG, START, cart_body, order_body, pushes
from tests.helpers.line import SHOPPER_ID

M15 = timedelta(minutes=15)


def test_duplicate_event_id_has_no_second_effect(shop):
    first = shop.event("cart.updated", cart_body(), event_id="ev-1")
    assert first.status_code == 202 and first.get_json() == {"accepted": True}
    again = shop.event("cart.updated", cart_body("C2"), event_id="ev-1")
    assert again.status_code == 200 and again.get_json() == {"duplicate": True}
    assert len(shop.deliveries()) == 3
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        assert len(session.scalars(select(ShopEvent)).all()) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "cart.exploded"}, "type"),
        ({"occurred_at": "2025-07-01T10:00:00"}, "occurred_at"),
        ({"member_id": None}, "member_id"),
        ({"line_user_id": "not-a-line-id"}, "line_user_id"),
        ({"cart": {**cart_body()["cart"], "currency": "USD"}}, "cart.currency"),
        ({"cart": {**cart_body()["cart"], "url": "javascript:alert(1)"}}, "cart.url"),
        (
            {"cart": {**cart_body()["cart"], "items": [{**MUG, "price": "2750円"}]}},
            "cart.items[0].price",
        ),
        (
            {"cart": {**cart_body()["cart"], "items": [{**MUG, "quantity": 0}]}},
            "cart.items[0].quantity",
        ),
    ],
)
def test_bad_events_get_a_field_level_400(shop, change, field):
    body = {"type": "cart.updated", "event_id": "e1", "occurred_at": START.isoformat()}
    body.update(cart_body())
    body["member_id"] = "M123"
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = shop.api.post("/events", body)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field
    assert shop.deliveries() == []


def test_events_by_line_user_id_work_too(shop, line):
    response = shop.event("cart.updated", cart_body(), member=None, line_user_id=SHOPPER_ID)
    assert response.status_code == 202
    shop.at(START + M15)
    shop.tick()
    assert len(pushes(line)) == 1


def test_rate_limit_retries_later_honouring_retry_after_and_sends_once(shop, line):
    shop.event("cart.updated", cart_body())
    shop.at(START + M15)
    line.fail_next(LineRateLimited("Too many requests", status=429, retry_after=120))
    shop.tick()
    reminder = shop.delivery("reminder")
    assert reminder.state is DeliveryState.PENDING
    assert reminder.due_at == START + M15 + timedelta(seconds=120)
    assert reminder.attempts == 1
    shop.at(START + M15 + timedelta(seconds=60))
    assert shop.tick() == 0
    line.fail_next(LineServerError("boom", status=500))
    shop.at(START + M15 + timedelta(seconds=120))
    shop.tick()
    assert shop.delivery("reminder").state is DeliveryState.PENDING
    shop.at(START + M15 + timedelta(minutes=10))
    shop.tick()
    assert shop.delivery("reminder").state is DeliveryState.SENT
    assert len(pushes(line)) == 1


def test_client_error_fails_and_cli_retry_replays(app, shop, line):
    shop.event("cart.updated", cart_body())
    shop.at(START + M15)
    line.fail_next(
        LineClientError("The property, 'to', in the request body is invalid", status=400)
    )
    shop.tick()
    failed = shop.delivery("reminder")
    assert failed.state is DeliveryState.FAILED
    assert failed.reason.startswith("LINE 400")
    runner = app.test_cli_runner()
    listing = runner.invoke(args=["deliveries", "list", "--member", "M123"])
    assert "failed" in listing.output and "LINE 400" in listing.output
    result = runner.invoke(args=["deliveries", "retry", str(failed.id)])
    assert result.exit_code == 0, result.output
    shop.tick()
    assert shop.delivery("reminder").state is DeliveryState.SENT
    assert len(pushes(line)) == 1
    again = runner.invoke(args=["deliveries", "retry", str(failed.id)])
    assert again.exit_code != 0 and "only failed" in again.output


def test_monthly_limit_pauses_marketing_but_not_transactional(shop, line):
    shop.event("cart.updated", cart_body())
    shop.at(START + M15)
    line.fail_next(LineMonthlyLimit("You have reached your monthly limit.", status=429))
    shop.tick()
    assert MONTHLY_LIMIT._value.get() == 1
    reminder = shop.delivery("reminder")
    assert reminder.state is DeliveryState.PENDING and reminder.reason == "LINE monthly limit"
    # An order from before this cart (so it does not end the cart's flow) needs its thanks.
    shop.event("order.placed", order_body("O5", "C-x"), at=START - M15)
    shop.tick()  # the thanks goes out; the paused reminder is not even claimed
    assert "ご注文ありがとうございます" in pushes(line)[0]["messages"][0]["altText"]
    assert MONTHLY_LIMIT._value.get() == 0  # a push went through: the limit no longer applies
    shop.at(START + M15 + timedelta(hours=1))
    shop.tick()
    assert shop.delivery("reminder").state is DeliveryState.SENT


def test_with_staff_postpones_marketing(shop, line):
    shop.event("cart.updated", cart_body())
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        escalate(session, find_shopper(session, SHOPPER_ID), TicketReason.ASKED_FOR_PERSON, START)
        session.commit()
    shop.at(START + M15)
    shop.tick()
    assert pushes(line) == []
    assert shop.delivery("reminder").reason == "postponed: chat is with staff"
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        for ticket in session.scalars(select(SupportTicket)):
            session.delete(ticket)
        session.commit()
    shop.at(START + M15 + timedelta(minutes=30))
    shop.tick()
    assert len(pushes(line)) == 1


def test_worker_death_mid_send_is_recovered_after_the_lease_without_a_second_push(app, shop, line):
    shop.event("cart.updated", cart_body())
    shop.at(START + M15)
    with app.app_context():
        assert delivery_jobs.dispatch_due_deliveries() == 1
    # The worker pushed, then died before recording it; Redis lost the job too.
    reminder = shop.delivery("reminder")
    from bot.line.gateway import retry_key_for

    line.push(
        SHOPPER_ID,
        [{"type": "text", "text": "x"}],
        retry_key=retry_key_for("delivery", reminder.id),
    )
    app.extensions["bot"].redis.flushdb()
    assert shop.tick() == 0  # still within the lease
    shop.at(
        START + M15 + timedelta(seconds=app.extensions["bot"].settings.delivery_lease_seconds + 1)
    )
    assert shop.tick() == 1
    reminder = shop.delivery("reminder")
    assert reminder.state is DeliveryState.SENT
    assert reminder.reason == "already accepted by LINE (retry key)"
    assert len(pushes(line)) == 1


def test_tracking_link_records_the_click_and_redirects_with_utm(app, client, shop, line):
    shop.event("cart.updated", cart_body())
    shop.at(START + M15)
    shop.tick()
    message = pushes(line)[0]["messages"][0]
    uris = _uris(message)
    assert uris and all(u.startswith("https://bot.example.com/r/") for u in uris)
    response = client.get(urlsplit(uris[0]).path)
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    query = parse_qs(target.query)
    assert target.netloc == "shop.example.jp"
    assert query["utm_campaign"] == ["cart_abandonment"]
    assert query["utm_content"] == ["reminder-default"]
    with app.app_context():
        click = app.extensions["bot"].db.session().scalars(select(Click)).one()
    assert click.delivery_id == shop.delivery("reminder").id
    token = urlsplit(uris[0]).path.removeprefix("/r/")
    assert (
        client.get("/r/" + token[:-2] + ("AA" if token[-2:] != "AA" else "BB")).status_code == 404
    )
    assert client.get("/r/garbage").status_code == 404
    shop.at(START + timedelta(days=200))
    assert client.get(urlsplit(uris[0]).path).status_code == 404
    # The click links the later order to the message and the tap.
    shop.at(START + timedelta(hours=2))
    shop.event("order.placed", order_body())
    with app.app_context():
        from bot.models import Conversion

        conversion = app.extensions["bot"].db.session().scalars(select(Conversion)).one()
    assert conversion.click_id == click.id


def _uris(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["uri"]] if node.get("type") == "uri" else []
        return found + [u for v in node.values() for u in _uris(v)]
    if isinstance(node, list):
        return [u for v in node for u in _uris(v)]
    return []


def test_ab_variant_is_stable_per_shopper_and_both_arms_are_used():
    book = load_scenarios()
    step = book.get("cart_abandonment").step("incentive")
    arms = [step.choose_variant("cart_abandonment", shopper_id).name for shopper_id in range(400)]
    assert set(arms) == {"free_shipping", "coupon"}
    assert 120 < arms.count("coupon") < 280
    assert arms == [step.choose_variant("cart_abandonment", i).name for i in range(400)]


def test_recorded_variant_survives_a_restart_and_reaches_the_template(shop, line):
    shop.event("cart.updated", cart_body(items=[MUG, MAMEZARA]))
    variant = shop.delivery("incentive").variant
    shop.at(START + timedelta(hours=1))
    shop.event("cart.updated", cart_body(items=[MAMEZARA]))
    assert shop.delivery("incentive").variant == variant
    shop.at(START + timedelta(hours=1, days=1))
    shop.tick()
    text = str(pushes(line)[-1]["messages"][0])
    assert ("KAGO300" in text) == (variant == "coupon")


def test_member_deliveries_explains_each_state(shop):
    shop.event("cart.updated", cart_body(items=[MUG]))
    for when in (M15, timedelta(days=1), timedelta(days=3)):
        shop.at(START + when)
        shop.tick()
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        rows = deliveries.member_deliveries(session, find_shopper(session, SHOPPER_ID))
    assert [(r["step"], r["state"]) for r in rows] == [
        ("low_stock", "skipped"),
        ("incentive", "sent"),
        ("reminder", "sent"),
    ]
    assert rows[0]["reason"] == "condition: no item has 3 or fewer left"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("scenarios: {x: {trigger: cart.exploded, steps: []}}", "scenario 'x', trigger"),
        (
            "scenarios: {x: {trigger: cart.updated,"
            " steps: [{id: a, delay: soon, template: cart_reminder}]}}",
            "scenario 'x', steps[0].delay",
        ),
        (
            "scenarios: {x: {trigger: cart.updated, steps: [{id: a, delay: 1m, template: nope}]}}",
            "scenario 'x', steps[0].template",
        ),
        (
            "scenarios: {x: {trigger: cart.updated,"
            " steps: [{id: a, delay: 1m, template: cart_reminder,"
            " variants: [{name: A, weight: 0}]}]}}",
            "steps[0].variants[0].weight",
        ),
        (
            "scenarios: {x: {trigger: cart.updated, steps: [{delay: 1d, template: cart_reminder},"
            " {delay: 1h, template: cart_reminder}]}}",
            "steps: delays must not decrease",
        ),
        ("scenarios: [1, 2]", "top level"),
    ],
)
def test_scenario_file_errors_name_file_scenario_and_field(yaml_text, expected):
    with pytest.raises(ScenarioError) as info:
        parse_scenarios(yaml_text, "shop.yaml")
    assert str(info.value).startswith("shop.yaml: ")
    assert expected in str(info.value)


def test_a_bad_scenario_file_stops_start_up(settings, db, redis, line, tmp_path: Path):
    from bot.app import create_app

    bad = tmp_path / "scenarios.yaml"
    bad.write_text("scenarios:\n  cart: {trigger: cart.updated, steps: [{delay: 15x}]}\n")
    with pytest.raises(ScenarioError, match=r"scenarios.yaml: scenario 'cart', steps\[0\]\.delay"):
        create_app(settings.with_changes(scenarios_path=bad), line=line, redis=redis, database=db)


def test_the_scenario_file_is_read_once_at_start_up(settings, db, redis, line, tmp_path: Path):
    from bot.app import create_app
    from bot.delivery.receivers import delivery_rules

    path = tmp_path / "scenarios.yaml"
    path.write_text(
        "scenarios:\n  cart: {trigger: cart.updated, cooldown: 2h,"
        " steps: [{delay: 15m, template: cart_reminder}]}\n"
    )
    changed = settings.with_changes(scenarios_path=path, abandonment_cooldown_hours=5)
    app = create_app(changed, line=line, redis=redis, database=db)
    path.write_text("scenarios: [1, 2]")  # a later edit is not read by the running app
    rules = app.extensions["bot"].delivery_rules
    # The shop's one scenario, and the built-in abandoned-cart question.
    assert [s.id for s in rules.book.scenarios] == ["cart", "abandonment_survey"]
    assert rules.abandonment_cooldown == timedelta(hours=5)
    with app.app_context():
        assert delivery_rules() is rules


def test_shipped_scenarios_load():
    book = load_scenarios()
    assert [s.id for s in book.scenarios] == [
        "cart_abandonment",
        "cart_abandonment_by_customer",  # the segmented example, off by default
        "order_thanks",
        "shipping_notice",
        "after_delivery",
        "payment_reminder",
        "win_back",  # off by default: the shop writes the offer
        "birthday_offer",  # off by default too
        "restock",
    ]
    cart = book.get("cart_abandonment")
    assert [s.delay for s in cart.steps] == [M15, timedelta(days=1), timedelta(days=3)]
