"""Signatures, the timestamp window and replay refusal of the shop API."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from redis import Redis
from werkzeug.test import TestResponse

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.line.gateway import InMemoryLineGateway
from bot.models import Shopper
from bot.shop_api.auth import request_target, sign
from bot.shoppers.service import find_shopper
from tests.helpers.line import SHOPPER_ID
from tests.helpers.shop_api import OTHER_USER_ID, SHOP_SECRET, ShopApi

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()))
BODY = {"member_id": "M123", "line_user_id": SHOPPER_ID}


def _raw_post(client: FlaskClient, headers: dict[str, str]) -> TestResponse:
    data = json.dumps(BODY).encode()
    return client.post(
        "/api/v1/links", data=data, headers={"Content-Type": "application/json", **headers}
    )


def _captured(method: str, target: str, body: bytes = b"") -> dict[str, str]:
    """The auth headers an eavesdropper saw on one request sent at NOW."""
    return {"X-Shop-Timestamp": TS, "X-Shop-Signature": sign(SHOP_SECRET, TS, method, target, body)}


def test_valid_signature_is_accepted(api: ShopApi) -> None:
    response = api.post("/links", BODY)
    assert response.status_code == 201
    assert response.json["member_id"] == "M123"


@freeze_time(NOW)
def test_signature_is_hmac_of_timestamp_method_target_and_body(api: ShopApi) -> None:
    """The canonical form of docs/shop-api.md, computed here without the server's helper."""
    assert api.post("/links", BODY).status_code == 201
    target = "/api/v1/members/M123?fields=all&x=%E4%BC%9A"
    message = f"{TS}.GET.{target}.".encode()
    digest = hmac.new(SHOP_SECRET.encode(), message, hashlib.sha256).hexdigest()
    headers = {"X-Shop-Timestamp": TS, "X-Shop-Signature": f"sha256={digest}"}
    response = api.client.get(target, headers=headers)
    assert response.status_code == 200, response.json
    assert response.json["member_id"] == "M123"


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({}, "X-Shop-Timestamp"),
        ({"X-Shop-Timestamp": TS}, "X-Shop-Signature"),
        ({"X-Shop-Timestamp": TS, "X-Shop-Signature": "abc"}, "X-Shop-Signature"),
        ({"X-Shop-Timestamp": TS, "X-Shop-Signature": "sha256=zz"}, "X-Shop-Signature"),
        (
            {"X-Shop-Timestamp": "昨日", "X-Shop-Signature": "sha256=" + "0" * 64},
            "X-Shop-Timestamp",
        ),
        ({"X-Shop-Timestamp": TS, "X-Shop-Signature": "sha256=" + "0" * 64}, None),
    ],
    ids=["missing", "no-signature", "malformed", "bad-hex", "bad-timestamp", "wrong"],
)
@freeze_time(NOW)
def test_bad_auth_gets_401_and_no_effect(
    client: FlaskClient, db: Database, headers: dict[str, str], field: str | None
) -> None:
    response = _raw_post(client, headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert response.json["error"]["field"] == (field or "X-Shop-Signature")
    assert db.session().query(Shopper).count() == 0


@freeze_time(NOW)
def test_signature_with_another_secret_is_refused(client: FlaskClient) -> None:
    assert ShopApi(client, secret="他のシークレット").post("/links", BODY).status_code == 401


@freeze_time(NOW)
def test_signature_of_another_body_is_refused(client: FlaskClient) -> None:
    assert _raw_post(client, _captured("POST", "/api/v1/links", b"{}")).status_code == 401


@freeze_time(NOW)
def test_signature_of_the_old_form_is_refused(client: FlaskClient) -> None:
    """`"<timestamp>." + body` alone (the first version of the contract) no longer passes."""
    data = json.dumps(BODY).encode()
    old = hmac.new(SHOP_SECRET.encode(), TS.encode() + b"." + data, hashlib.sha256).hexdigest()
    headers = {"X-Shop-Timestamp": TS, "X-Shop-Signature": f"sha256={old}"}
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
    wrong = _captured("GET", "/api/v1/members/M123", b"{}")
    assert api.client.get("/api/v1/members/M123", headers=wrong).status_code == 401


@freeze_time(NOW)
def test_captured_get_replayed_as_delete_of_another_member_is_refused(
    api: ShopApi, db: Database
) -> None:
    """Issue 12: a GET's headers erased another member when only the body was signed."""
    assert api.post("/links", {"member_id": "A", "line_user_id": SHOPPER_ID}).status_code == 201
    assert api.post("/links", {"member_id": "B", "line_user_id": OTHER_USER_ID}).status_code == 201
    captured = _captured("GET", "/api/v1/members/A")
    assert api.client.get("/api/v1/members/A", headers=captured).status_code == 200

    response = api.client.delete("/api/v1/members/B", headers=captured)
    assert response.status_code == 401
    assert response.json["error"]["field"] == "X-Shop-Signature"
    assert find_shopper(db.session(), OTHER_USER_ID).member_id == "B"


@freeze_time(NOW)
def test_captured_get_replayed_as_unlink_is_refused(api: ShopApi, db: Database) -> None:
    assert api.post("/links", {"member_id": "A", "line_user_id": SHOPPER_ID}).status_code == 201
    captured = _captured("GET", "/api/v1/members/A")
    assert api.client.get("/api/v1/members/A", headers=captured).status_code == 200

    assert api.client.delete("/api/v1/links/A", headers=captured).status_code == 401
    assert find_shopper(db.session(), SHOPPER_ID).member_id == "A"


@freeze_time(NOW)
def test_signature_covers_the_query_string(api: ShopApi) -> None:
    assert api.post("/links", BODY).status_code == 201
    captured = _captured("GET", "/api/v1/members/M123?page=1")
    assert api.client.get("/api/v1/members/M123?page=2", headers=captured).status_code == 401
    assert api.client.get("/api/v1/members/M123?page=1", headers=captured).status_code == 200


@freeze_time(NOW)
def test_path_is_signed_as_sent_on_the_request_line(api: ShopApi) -> None:
    """A percent-encoded path is signed encoded: no decoding rules for clients to copy."""
    assert api.post("/links", BODY).status_code == 201
    decoded = _captured("GET", "/api/v1/members/M123")
    assert api.client.get("/api/v1/members/M%31%32%33", headers=decoded).status_code == 401
    as_sent = _captured("GET", "/api/v1/members/M%31%32%33")
    assert api.client.get("/api/v1/members/M%31%32%33", headers=as_sent).status_code == 200


@freeze_time(NOW)
def test_verbatim_replay_is_refused_as_replayed(api: ShopApi, db: Database) -> None:
    data = json.dumps(BODY).encode()
    captured = {"Content-Type": "application/json", **_captured("POST", "/api/v1/links", data)}
    assert api.client.post("/api/v1/links", data=data, headers=captured).status_code == 201
    assert (
        api.client.delete(
            "/api/v1/links/M123", headers=_captured("DELETE", "/api/v1/links/M123")
        ).status_code
        == 204
    )

    replay = api.client.post("/api/v1/links", data=data, headers=captured)
    assert replay.status_code == 401
    assert "replayed" in replay.json["error"]["message"]
    assert replay.json["error"]["field"] == "X-Shop-Signature"
    assert find_shopper(db.session(), SHOPPER_ID).member_id is None  # not linked again


@pytest.mark.parametrize(("skew", "ttl"), [(-300, 1), (0, 301), (300, 601)])
def test_a_signature_is_remembered_while_its_timestamp_is_in_the_window(
    api: ShopApi, redis: Redis, skew: int, ttl: int
) -> None:
    with freeze_time(NOW):
        assert api.post("/links", BODY, timestamp=int(NOW.timestamp()) + skew).status_code == 201
        keys = redis.keys("shop_api:seen:*")
        assert len(keys) == 1
        assert ttl - 1 <= redis.ttl(keys[0]) <= ttl


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@freeze_time(NOW)
def test_unreachable_redis_fails_closed_with_503(
    settings: Settings, db: Database, line: InMemoryLineGateway
) -> None:
    dead = Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=0.5)
    app = create_app(settings, line=line, redis=dead, database=db)
    response = ShopApi(app.test_client()).post("/links", BODY)
    assert response.status_code == 503
    assert response.json["error"]["code"] == "unavailable"
    assert response.headers["Retry-After"].isdigit()
    assert db.session().query(Shopper).count() == 0


@pytest.mark.parametrize(
    ("environ", "target"),
    [
        ({"RAW_URI": "/api/v1/members/M%31?a=1&b"}, b"/api/v1/members/M%31?a=1&b"),
        ({"REQUEST_URI": "/api/v1/members/M1"}, b"/api/v1/members/M1"),
        ({"RAW_URI": "http://bot.example.com:8000/api/v1/x?y=1"}, b"/api/v1/x?y=1"),
        (
            {"SCRIPT_NAME": "", "PATH_INFO": "/api/v1/members/M 1", "QUERY_STRING": "q=%20"},
            b"/api/v1/members/M%201?q=%20",
        ),
        ({"PATH_INFO": "/api/v1/members/M1", "QUERY_STRING": ""}, b"/api/v1/members/M1"),
    ],
    ids=["gunicorn", "uwsgi", "absolute-form", "rebuilt", "rebuilt-no-query"],
)
def test_request_target_is_the_path_and_query_as_sent(environ: dict, target: bytes) -> None:
    assert request_target(environ) == target


def test_openapi_document_needs_no_signature(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json["openapi"].startswith("3.")
    assert "/links" in response.json["paths"]
    signature = response.json["components"]["parameters"]["Signature"]["description"]
    assert "<METHOD>" in signature and "<target>" in signature
