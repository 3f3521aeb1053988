"""Signatures and the timestamp window of the shop API."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time

from bot.models import Shopper
from bot.shop_api.auth import sign
from tests.conftest import SHOPPER_ID
from tests.shop_api.conftest import SHOP_SECRET, ShopApi

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
BODY = {"member_id": "M123", "line_user_id": SHOPPER_ID}


def _raw_post(client: FlaskClient, headers: dict[str, str]) -> object:
    data = json.dumps(BODY).encode()
    return client.post(
        "/api/v1/links", data=data, headers={"Content-Type": "application/json", **headers}
    )


def test_valid_signature_is_accepted(api: ShopApi) -> None:
    response = api.post("/links", BODY)
    assert response.status_code == 201
    assert response.json["member_id"] == "M123"


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({}, "X-Shop-Timestamp"),
        ({"X-Shop-Timestamp": "1741003200"}, "X-Shop-Signature"),
        ({"X-Shop-Timestamp": "1741003200", "X-Shop-Signature": "abc"}, "X-Shop-Signature"),
        ({"X-Shop-Timestamp": "1741003200", "X-Shop-Signature": "sha256=zz"}, "X-Shop-Signature"),
        (
            {"X-Shop-Timestamp": "昨日", "X-Shop-Signature": "sha256=" + "0" * 64},
            "X-Shop-Timestamp",
        ),
        ({"X-Shop-Timestamp": "1741003200", "X-Shop-Signature": "sha256=" + "0" * 64}, None),
    ],
    ids=["missing", "no-signature", "malformed", "bad-hex", "bad-timestamp", "wrong"],
)
@freeze_time(NOW)
def test_bad_auth_gets_401_and_no_effect(
    client: FlaskClient, db: object, headers: dict[str, str], field: str | None
) -> None:
    response = _raw_post(client, headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert response.json["error"]["field"] == (field or "X-Shop-Signature")
    assert db.session().query(Shopper).count() == 0  # type: ignore[attr-defined]


@freeze_time(NOW)
def test_signature_with_another_secret_is_refused(client: FlaskClient) -> None:
    assert ShopApi(client, secret="他のシークレット").post("/links", BODY).status_code == 401


@freeze_time(NOW)
def test_signature_of_another_body_is_refused(client: FlaskClient) -> None:
    ts = str(int(NOW.timestamp()))
    headers = {"X-Shop-Timestamp": ts, "X-Shop-Signature": sign(SHOP_SECRET, ts, b"{}")}
    assert _raw_post(client, headers).status_code == 401


@pytest.mark.parametrize(
    ("skew", "status"), [(-301, 401), (-300, 201), (0, 201), (300, 201), (301, 401)]
)
def test_timestamp_window_is_300_seconds_each_way(api: ShopApi, skew: int, status: int) -> None:
    with freeze_time(NOW):
        response = api.post("/links", BODY, timestamp=int(NOW.timestamp()) + skew)
    assert response.status_code == status, response.json


@freeze_time(NOW)
def test_get_signs_an_empty_body(api: ShopApi) -> None:
    assert api.post("/links", BODY).status_code == 201
    assert api.get("/members/M123").status_code == 200
    ts = str(int(NOW.timestamp()))
    wrong = {"X-Shop-Timestamp": ts, "X-Shop-Signature": sign(SHOP_SECRET, ts, b"{}")}
    assert api.client.get("/api/v1/members/M123", headers=wrong).status_code == 401


def test_openapi_document_needs_no_signature(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json["openapi"].startswith("3.")
    assert "/links" in response.json["paths"]
