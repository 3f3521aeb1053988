"""The playground's endpoints: where it is served, what it refuses, and its flows over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from redis import Redis

from bot.app import create_app
from bot.core.clock import DevClock, SystemClock
from bot.core.db import Database
from bot.core.settings import ConfigError, Settings
from line_emulator import EmulatorServer
from tests.helpers.live_server import LiveServer
from tests.helpers.playground import ORIGIN, Playground

USER = "U" + "c" * 32


def _app(settings: Settings, db: Database, redis: Redis, **changes: Any) -> Flask:
    return create_app(settings.with_changes(**changes), redis=redis, database=db)


# -- where it is served ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "enabled", "status"),
    [("production", False, 404), ("test", False, 404), ("production", True, 200)],
)
def test_served_only_in_development_or_when_enabled(
    settings: Settings, db: Database, redis: Redis, env: str, enabled: bool, status: int
) -> None:
    app = _app(settings, db, redis, env=env, playground_enabled=enabled)
    client = app.test_client()
    assert client.get("/dev/playground/").status_code == status
    assert client.get("/dev/playground/api/state").status_code in (status, 502)


def test_development_serves_it_with_a_strict_csp(
    settings: Settings, db: Database, redis: Redis
) -> None:
    app = _app(settings, db, redis, env="development")
    response = app.test_client().get("/dev/playground/")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    page = response.get_data(as_text=True)
    assert "<script>" not in page and "style=" not in page and " on" + "click" not in page
    assert isinstance(app.extensions["bot"].clock, DevClock)


def test_the_dev_clock_is_never_used_in_production(
    settings: Settings, db: Database, redis: Redis
) -> None:
    app = _app(settings, db, redis, env="production", playground_enabled=True)
    assert isinstance(app.extensions["bot"].clock, SystemClock)
    response = Playground(app.test_client()).post("/api/clock", {"seconds": 900})
    assert response.status_code == 409


def test_the_setting_is_read_from_the_environment() -> None:
    base = {"APP_ENV": "development"}
    assert Settings.from_env(base).playground_enabled is False
    assert Settings.from_env({**base, "PLAYGROUND_ENABLED": "true"}).playground_enabled is True
    with pytest.raises(ConfigError, match="PLAYGROUND_ENABLED"):
        Settings.from_env({**base, "PLAYGROUND_ENABLED": "perhaps"})


def test_the_dev_clock_is_shared_through_redis(redis: Redis) -> None:
    one, other = DevClock(redis), DevClock(redis)
    before = other.now()
    one.advance(3600)
    assert 3599 < (other.now() - before).total_seconds() < 3700
    with pytest.raises(ValueError):
        one.advance(-60)
    with pytest.raises(ValueError):
        one.advance(10**9)


# -- what it refuses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Origin": ORIGIN + ":8080"}],
)
def test_cross_site_posts_are_refused(pg: Playground, headers: dict[str, str]) -> None:
    response = pg.post("/api/clock", {"seconds": 900}, headers=headers)
    assert response.status_code == 403
    assert pg.client.post("/dev/playground/api/clock", json={"seconds": 900}).status_code == 403


def test_a_form_post_is_refused_even_from_our_origin(pg: Playground) -> None:
    response = pg.client.post(
        "/dev/playground/api/clock", data={"seconds": "900"}, headers={"Origin": ORIGIN}
    )
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/clock", {"seconds": 60}, 400),
        ("/api/clock", {"seconds": "900"}, 400),
        ("/api/clock", [], 400),
        ("/api/shop/cart", {"userId": USER, "sku": "NOPE"}, 400),
        ("/api/shop/cart", {"userId": "U123", "sku": "MUG-AI"}, 400),
        ("/api/shop/cart", {"userId": USER, "sku": "MUG-AI", "quantity": 0}, 400),
        ("/api/shop/stock", {"sku": "MUG-AI", "stock": -1}, 400),
        ("/api/shop/stock", {"sku": "MUG-AI", "stock": True}, 400),
        ("/api/shop/link", {"userId": USER, "memberId": "with space"}, 400),
        ("/api/shop/order", {"userId": USER}, 409),
        ("/api/shop/ship", {"userId": USER}, 409),
        ("/api/shop/refund", {"userId": USER}, 404),
        ("/api/line/text", {"userId": USER, "text": ""}, 400),
        ("/api/line/text", {"userId": USER, "text": "x" * 5001}, 400),
        ("/api/line/postback", {"userId": USER, "data": "a", "params": {"x": 1}}, 400),
        ("/api/line/join", {"userId": USER}, 404),
        ("/api/line/text", {"userId": USER, "text": "こんにちは"}, 400),  # unknown to LINE
        ("/api/shoppers", {"displayName": ""}, 400),
        ("/api/shoppers", {"displayName": "x" * 21}, 400),
        ("/api/shoppers", {"displayName": "花子", "userId": "Uxyz"}, 400),
        ("/api/faults", {"5xx": "yes"}, 400),
    ],
)
def test_bad_input_gets_4xx_with_a_reason(
    pg: Playground, path: str, body: Any, status: int
) -> None:
    response = pg.post(path, body)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]


@pytest.mark.parametrize(
    "query",
    ["/api/chat", "/api/chat?user=bad", "/api/state?user=U1", "/api/where?url=javascript:x"],
)
def test_bad_queries_get_400(pg: Playground, query: str) -> None:
    assert pg.get(query).status_code == 400


def test_no_emulator_is_a_502_not_a_500(settings: Settings, db: Database, redis: Redis) -> None:
    for base in ("http://127.0.0.1:9", "https://api.line.me"):
        app = _app(settings, db, redis, playground_enabled=True, line_api_base_url=base)
        client = Playground(app.test_client())
        assert client.get("/api/state").status_code == 502
        assert client.post("/api/line/follow", {"userId": USER}).status_code == 502


def test_the_value_stylesheet_answers_only_value_rules(pg: Playground) -> None:
    response = pg.get("/flex-values.css?c=c-06c755.w-1px}body{x.zz-1")
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert response.get_data(as_text=True) == ".fv-c-06c755{color:#06c755}\n"


# -- a whole flow over HTTP, without a browser -------------------------------------------------


def _timeline(pg: Playground, user: str) -> dict[str, str]:
    rows = pg.get(f"/api/state?user={user}").get_json()["timeline"]
    return {row["step"]: row["state"] for row in rows}


def test_shop_buttons_post_signed_events_and_time_travel_sends_the_reminder(
    pg: Playground,
    pg_live: LiveServer,
    pg_jobs: Callable[[], None],
    emulator: EmulatorServer,
    pg_app: Flask,
) -> None:
    created = pg.post("/api/shoppers", {"displayName": "山田 花子"})
    assert created.status_code == 201, created.get_json()
    user = created.get_json()["profile"]["userId"]
    pg_jobs()
    assert pg.post("/api/shop/link", {"userId": user, "memberId": "M0042"}).status_code == 201
    pg_jobs()  # the bot tells the shopper about the link
    assert pg.post("/api/shop/cart", {"userId": user, "sku": "MUG-AI"}).status_code == 202
    assert pg.post("/api/shop/cart", {"userId": user, "sku": "TEA-X"}).status_code == 400
    assert _timeline(pg, user)["reminder"] == "pending"
    state = pg.get(f"/api/state?user={user}").get_json()
    assert state["member"] == "M0042" and state["cart"]["items"] == {"MUG-AI": 1}

    assert pg.post("/api/clock", {"seconds": 900}).status_code == 200
    pg_jobs()
    assert _timeline(pg, user)["reminder"] == "sent"
    chat = pg.get(f"/api/chat?user={user}").get_json()
    assert "fx-carousel" in chat["html"] and "美濃焼 手描き藍染め マグカップ" in chat["html"]
    assert 'data-data="action=optout"' in chat["quick"]
    assert "/static/items/mug.svg" in chat["html"]  # the catalogue's picture, drawn locally
    css = pg.get(f"/flex-values.css?c={chat['values']}").get_data(as_text=True)
    assert ".fv-c-333333{color:#333333}" in css

    assert pg.post("/api/shop/order", {"userId": user}).status_code == 202
    pg_jobs()
    steps = _timeline(pg, user)
    assert steps["incentive"] == "cancelled" and steps["low_stock"] == "cancelled"
    assert steps["thanks"] == "sent"
    # Every event went through the signed shop API: none was refused.
    assert pg.post("/api/shop/ship", {"userId": user}).status_code == 202
    assert pg.post("/api/shop/stock", {"sku": "MUG-AI", "stock": 3}).status_code == 202
    assert pg.post("/api/faults", {"5xx": True}).get_json()["faults"]["5xx"] is True
    assert emulator.fault_rates()[0]["error"] == 0.5
    assert pg.post("/api/faults", {}).get_json()["faults"] == {
        "5xx": False,
        "429": False,
        "slow": False,
    }


def test_the_account_link_flow_links_the_shopper_and_the_chat_shows_it(
    pg: Playground,
    pg_live: LiveServer,
    pg_jobs: Callable[[], None],
    emulator: EmulatorServer,
) -> None:
    user = pg.post("/api/shoppers", {"displayName": "佐藤 美咲"}).get_json()["profile"]["userId"]
    pg_jobs()
    # Before the bot sent a login link there is nothing to open.
    early = pg.post("/api/account-link", {"userId": user, "memberId": "M000777"})
    assert early.status_code == 409 and "会員連携" in early.get_json()["error"]

    # ① The shopper asks; the bot gets a link token from LINE and sends the login link.
    assert pg.post("/api/line/text", {"userId": user, "text": "会員連携"}).status_code == 200
    pg_jobs()
    [issued] = [t for t in emulator.link_tokens() if t["userId"] == user]
    chat = pg.get(f"/api/chat?user={user}").get_json()
    assert f"linkToken={issued['linkToken']}" in chat["html"]

    # ② The shopper logs in at the shop; the shop gets a nonce; LINE sends accountLink.
    done = pg.post("/api/account-link", {"userId": user, "memberId": "M000777"})
    assert done.status_code == 200, done.get_json()
    assert (
        done.get_json()["linkToken"] == issued["linkToken"] and len(done.get_json()["steps"]) == 3
    )
    pg_jobs()
    [spent] = [t for t in emulator.link_tokens() if t["userId"] == user]
    assert spent["usedAt"] is not None and spent["nonce"] == done.get_json()["nonce"]
    assert pg.get(f"/api/state?user={user}").get_json()["member"] == "M000777"
    chat = pg.get(f"/api/chat?user={user}").get_json()
    assert "LINEでアカウント連携しました" in chat["html"]
    assert "会員連携が完了しました" in chat["html"] and "****777" in chat["html"]

    # The token is spent: logging in with the same link again is refused with a reason.
    again = pg.post("/api/account-link", {"userId": user, "memberId": "M000888"})
    assert 400 <= again.status_code < 500 and again.get_json()["error"]
    assert pg.get(f"/api/state?user={user}").get_json()["member"] == "M000777"


@pytest.mark.parametrize(
    "body",
    [{"userId": USER}, {"userId": USER, "memberId": "with space"}, {"memberId": "M1"}, []],
)
def test_the_account_link_refuses_bad_input(pg: Playground, body: Any) -> None:
    response = pg.post("/api/account-link", body)
    assert response.status_code == 400 and response.get_json()["error"]
