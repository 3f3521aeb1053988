"""Refused shop API requests: one log line each, and throttling per source address."""

from __future__ import annotations

import json
import logging
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from bot.app import create_app
from bot.core.db import Database
from bot.core.logs import JsonFormatter
from bot.core.settings import Settings
from bot.line.gateway import InMemoryLineGateway
from bot.shop_api.auth import BLOCK_SECONDS, FAILURE_LIMIT, sign
from tests.helpers.line import SHOPPER_ID
from tests.helpers.shop_api import ShopApi

BODY = {"member_id": "M123", "line_user_id": SHOPPER_ID}
DATA = json.dumps(BODY).encode()
ATTACKER = "203.0.113.7"


def _forged(client: FlaskClient, source: str, **headers: str) -> tuple[int, str, str]:
    """POST /links signed with a guessed secret; (status, Retry-After, the signature sent)."""
    ts = str(int(time.time()))
    signature = sign("推測した秘密", ts, "POST", "/api/v1/links", DATA)
    response = client.post(
        "/api/v1/links",
        data=DATA,
        headers={
            "Content-Type": "application/json",
            "X-Shop-Timestamp": ts,
            "X-Shop-Signature": signature,
            **headers,
        },
        environ_base={"REMOTE_ADDR": source},
    )
    return response.status_code, response.headers.get("Retry-After", ""), signature


def _refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "shop API request refused"]


def test_bad_signatures_are_throttled_after_the_limit_and_logged_without_secrets(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.shop_api.auth")
    results = [_forged(client, ATTACKER) for _ in range(500)]

    statuses = [status for status, _, _ in results]
    assert statuses == [401] * FAILURE_LIMIT + [429] * (500 - FAILURE_LIMIT)
    assert all(
        0 < int(retry_after) <= BLOCK_SECONDS for _, retry_after, _ in results[FAILURE_LIMIT:]
    )

    refusals = _refusals(caplog)
    assert len(refusals) == 500
    assert {r.source for r in refusals} == {ATTACKER}  # type: ignore[attr-defined]
    assert [r.reason for r in refusals] == (  # type: ignore[attr-defined]
        ["wrong_signature"] * FAILURE_LIMIT + ["throttled"] * (500 - FAILURE_LIMIT)
    )
    assert {(r.method, r.path) for r in refusals} == {("POST", "/api/v1/links")}  # type: ignore[attr-defined]
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "shop API source blocked" in logged
    for secret_or_personal in {sig for _, _, sig in results} | {"M123", SHOPPER_ID}:
        assert secret_or_personal.removeprefix("sha256=") not in logged


def test_a_good_client_from_another_address_is_not_throttled(
    client: FlaskClient, api: ShopApi
) -> None:
    for _ in range(FAILURE_LIMIT):
        _forged(client, ATTACKER)
    assert _forged(client, ATTACKER)[0] == 429

    assert api.post("/links", BODY).status_code == 201  # the shop, from 127.0.0.1
    # A correct signature from the blocked address waits like everything else from it.
    blocked = ShopApi(client, source=ATTACKER).get("/members/M123")
    assert blocked.status_code == 429
    assert blocked.json["error"]["code"] == "too_many_failures"


def test_failures_below_the_limit_do_not_block(client: FlaskClient, redis: Redis) -> None:
    for _ in range(FAILURE_LIMIT - 1):
        assert _forged(client, ATTACKER)[0] == 401
    assert ShopApi(client, source=ATTACKER).post("/links", BODY).status_code == 201
    # The count runs in a window that starts with the first failure and is not extended.
    assert 0 < redis.ttl(f"shop_api:failures:{ATTACKER}") <= 60


def test_logged_path_has_the_route_and_query_names_only(
    api: ShopApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.shop_api.auth")
    response = api.client.get(
        "/api/v1/members/M123?token=%E7%A7%98%E5%AF%86&page=2",
        headers={"X-Shop-Timestamp": str(int(time.time()))},
        environ_base={"REMOTE_ADDR": ATTACKER},
    )
    assert response.status_code == 401
    (record,) = _refusals(caplog)
    assert record.path == "/api/v1/members/<member:member_id>?page&token"  # type: ignore[attr-defined]
    assert record.reason == "bad_signature"  # type: ignore[attr-defined]
    logged = JsonFormatter().format(record)
    assert "M123" not in logged and "秘密" not in logged and "%E7" not in logged


def test_forwarded_for_is_not_trusted_by_default(client: FlaskClient) -> None:
    """Without PROXY_FIX_HOPS an attacker cannot dodge the throttle with X-Forwarded-For."""
    results = [
        _forged(client, ATTACKER, **{"X-Forwarded-For": f"198.51.100.{n}"})
        for n in range(FAILURE_LIMIT + 1)
    ]
    assert results[-1][0] == 429


@pytest.fixture
def proxied_app(settings: Settings, db: Database, redis: Redis, line: InMemoryLineGateway) -> Flask:
    """The app behind one trusted reverse proxy (PROXY_FIX_HOPS=1)."""
    return create_app(settings.with_changes(proxy_fix_hops=1), line=line, redis=redis, database=db)


def test_behind_a_trusted_proxy_the_forwarded_client_is_the_source(
    proxied_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.shop_api.auth")
    client = proxied_app.test_client()
    proxy = "10.0.0.2"
    for _ in range(FAILURE_LIMIT + 1):
        # The client spoofs a first X-Forwarded-For entry; the proxy appends the real peer.
        status = _forged(client, proxy, **{"X-Forwarded-For": f"192.0.2.1, {ATTACKER}"})[0]
    assert status == 429
    assert {r.source for r in _refusals(caplog)} == {ATTACKER}  # type: ignore[attr-defined]

    shop = ShopApi(client, source=proxy)
    response = shop.post("/links", BODY, headers={"X-Forwarded-For": "198.51.100.20"})
    assert response.status_code == 201
