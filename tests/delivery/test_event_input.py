"""Hostile text in shop events gets a 400 naming the field, never a 500 (PostgreSQL included)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.helpers.delivery import MEMBER, cart_body, order_body


def _post(shop, **fields):
    payload = {
        "type": "cart.updated",
        "event_id": str(uuid.uuid4()),
        "occurred_at": shop.now.isoformat(),
        "member_id": MEMBER,
        **cart_body(),
        **fields,
    }
    # ensure_ascii keeps an unpaired surrogate as the \\ud800 escape a real client would send.
    return shop.api.post("/events", raw=json.dumps(payload, ensure_ascii=True).encode())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("member_id", "M1\x00"),  # PostgreSQL text cannot hold NUL
        ("event_id", "\ud800"),  # an unpaired surrogate: no database can store it
        ("event_id", "\u3000\u3000"),  # only (full-width) spaces
    ],
)
def test_unstorable_text_is_refused_with_the_field(shop, field, value):
    response = _post(shop, **{field: value})
    assert response.status_code == 400
    assert response.json["error"]["field"] == field


def test_integral_floats_are_whole_numbers(shop):
    body = cart_body()
    body["cart"]["items"][0]["quantity"] = 2.0
    assert _post(shop, **body).status_code == 202
    body["cart"]["items"][0]["quantity"] = 2.5
    response = _post(shop, **body)
    assert response.status_code == 400
    assert response.json["error"]["field"] == "cart.items[0].quantity"


@pytest.mark.parametrize("where", ["subtotal", "price"])
def test_amounts_past_a_database_integer_are_refused_by_name(shop, where):
    body = cart_body()
    if where == "subtotal":
        body["cart"]["subtotal"] = 4504441292219732721664
        field = "cart.subtotal"
    else:
        body["cart"]["items"][0]["price"] = 2**31
        field = "cart.items[0].price"
    response = _post(shop, **body)
    assert response.status_code == 400
    assert response.json["error"]["field"] == field
    body = cart_body()
    body["cart"]["subtotal"] = 2**31 - 1  # the largest amount still fits
    assert _post(shop, **body).status_code == 202


def test_an_order_total_past_a_database_integer_is_refused(shop):
    response = shop.event("order.placed", order_body("O-BIG", "C1", total=2**63))
    assert response.status_code == 400
    assert response.json["error"]["field"] == "order.total"


@pytest.mark.parametrize(
    "occurred_at",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-10:00", "1970-01-01T00:00:00Z"],
)
def test_an_impossible_event_time_is_refused_by_name(shop, occurred_at):
    response = _post(shop, occurred_at=occurred_at)
    assert response.status_code == 400
    assert response.json["error"]["field"] == "occurred_at"
