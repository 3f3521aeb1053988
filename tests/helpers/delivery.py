"""Helpers for the delivery engine's tests: a signed shop-event client and a dispatcher tick."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.delivery import jobs as delivery_jobs
from bot.line.gateway import InMemoryLineGateway
from bot.models import Delivery, FollowState, Shopper
from tests.helpers.line import SHOPPER_ID, TEST_SECRET, TEST_TOKEN
from tests.helpers.shop_api import ShopApi

# 2025-07-01 10:00 in Tokyo: a weekday morning, outside quiet hours.
START = datetime(2025, 7, 1, 1, 0, tzinfo=UTC)
MEMBER = "M123"


def cart_item(sku: str, name: str, price: int, *, stock: int | None = None, qty: int = 1) -> dict:
    item: dict[str, Any] = {
        "sku": sku,
        "name": name,
        "price": price,
        "quantity": qty,
        "image_url": f"https://shop.example.jp/images/{sku}.jpg",
        "product_url": f"https://shop.example.jp/items/{sku}",
    }
    if stock is not None:
        item["stock"] = stock
    return item


MUG = cart_item("MUG-AI", "美濃焼 手描き藍染め マグカップ", 2750, stock=12, qty=2)
MAMEZARA = cart_item("MAME-5", "有田焼 豆皿5枚セット(花づくし)", 4400, stock=2)


def cart_body(cart_id: str = "C1", items: list[dict] | None = None) -> dict[str, Any]:
    # Copies: a test that edits the body must not change MUG for the tests after it.
    items = [dict(i) for i in ([MUG] if items is None else items)]
    return {
        "cart": {
            "id": cart_id,
            "url": f"https://shop.example.jp/cart/{cart_id}",
            "currency": "JPY",
            "subtotal": sum(i["price"] * i["quantity"] for i in items),
            "items": items,
        }
    }


def order_body(order_id: str = "O1", cart_id: str = "C1", total: int = 5500) -> dict[str, Any]:
    return {"order": {"id": order_id, "cart_id": cart_id, "total": total, "items": [MUG]}}


class Shop:
    """Plays the EC site and the clock: posts events, moves time, runs the dispatcher."""

    def __init__(self, app: Flask, client: FlaskClient, run: Callable[[], Any], frozen: Any):
        self.app = app
        self.api = ShopApi(client)
        self.run = run
        self.frozen = frozen

    @property
    def now(self) -> datetime:
        return datetime.now(UTC)

    def event(
        self,
        kind: str,
        body: dict[str, Any] | None = None,
        *,
        member: str | None = MEMBER,
        at: datetime | None = None,
        event_id: str | None = None,
        **extra: Any,
    ) -> Any:
        payload: dict[str, Any] = {
            "type": kind,
            "event_id": event_id or str(uuid.uuid4()),
            "occurred_at": (at or self.now).isoformat(),
            **(body or {}),
            **extra,
        }
        if member is not None:
            payload["member_id"] = member
        return self.api.post("/events", payload)

    def at(self, when: datetime) -> None:
        self.frozen.move_to(when)

    def tick(self) -> int:
        """One dispatcher run plus the send jobs it queued; returns the deliveries claimed."""
        with self.app.app_context():
            claimed = delivery_jobs.dispatch_due_deliveries()
        self.run()
        return claimed

    def deliveries(self) -> list[Delivery]:
        with self.app.app_context():
            session = self.app.extensions["bot"].db.session()
            return list(session.scalars(select(Delivery).order_by(Delivery.id)).all())

    def delivery(self, step: str, scenario: str | None = None) -> Delivery:
        found = [
            d
            for d in self.deliveries()
            if d.step_id == step and (scenario is None or d.scenario_id == scenario)
        ]
        assert len(found) == 1, found
        return found[0]


def add_shopper(
    app: Flask,
    *,
    line_user_id: str = SHOPPER_ID,
    member_id: str | None = MEMBER,
    name: str = "山田 花子",
    now: datetime = START,
) -> int:
    """A following, opted-in shopper (linked to `member_id` unless None)."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        shopper = Shopper(
            line_user_id=line_user_id,
            display_name=name,
            follow_state=FollowState.FOLLOWING,
            followed_at=now,
            follow_count=1,
            member_id=member_id,
            linked_at=now if member_id else None,
            marketing_opt_in=True,
            opt_in_changed_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(shopper)
        session.commit()
        return shopper.id


def pushes(line: InMemoryLineGateway) -> list[dict[str, Any]]:
    """Pushes LINE accepted (a retry key seen before counts once)."""
    seen: dict[str | None, dict[str, Any]] = {}
    for push in line.sent("push"):
        if push["retry_key"] in line.accepted_keys:
            seen.setdefault(push["retry_key"], push)
    return list(seen.values())


def alt_texts(line: InMemoryLineGateway) -> list[str]:
    return [p["messages"][0]["altText"] for p in pushes(line)]


def later(base: datetime, **delta: float) -> datetime:
    return base + timedelta(**delta)


def abandoned_carts(app: Flask, users: list[str]) -> None:
    """Each LINE user a linked shopper whose cart was abandoned 20 minutes ago (real time):
    the 15-minute reminder is due now."""
    api = ShopApi(app.test_client())
    for n, user_id in enumerate(users):
        add_shopper(app, line_user_id=user_id, member_id=f"M{n:03d}", now=datetime.now(UTC))
        sent = api.post(
            "/events",
            {
                "type": "cart.updated",
                "event_id": f"e{n}",
                "occurred_at": (datetime.now(UTC) - timedelta(minutes=20)).isoformat(),
                "member_id": f"M{n:03d}",
                **cart_body(cart_id=f"C{n}"),
            },
        )
        assert sent.status_code == 202, sent.json


def emulator_carts(app: Flask, emulator: Any, count: int, now: datetime, item: dict) -> list[str]:
    """`count` LINE users the emulator knows (テスト0, …), each a linked shopper whose cart with
    `item` the shop API took at `now`; returns their user ids."""
    api = ShopApi(app.test_client())
    users = [f"U{i:032x}" for i in range(1, count + 1)]
    for n, user in enumerate(users):
        emulator.add_user(user, display_name=f"テスト{n}")
        add_shopper(app, line_user_id=user, member_id=f"M{n}", now=now)
        body = {
            "type": "cart.updated",
            "event_id": f"cart-{n}",
            "occurred_at": now.isoformat(),
            "member_id": f"M{n}",
            **cart_body(f"C{n}", [item]),
        }
        assert api.post("/events", body, timestamp=int(now.timestamp())).status_code == 202
    return users


def process_env(database_url: str, line_api: str, **settings: str) -> dict[str, str]:
    """The environment of a worker/scheduler subprocess on the test database and Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env.update(
        APP_ENV="development",
        DATABASE_URL=os.environ.get("TEST_DATABASE_URL") or database_url,
        REDIS_URL=os.environ["TEST_REDIS_URL"],
        LINE_API_BASE_URL=line_api,
        LINE_CHANNEL_SECRET=TEST_SECRET,
        LINE_CHANNEL_ACCESS_TOKEN=TEST_TOKEN,
        QUIET_HOURS="",
        DAILY_MARKETING_CAP="100",
        **settings,
    )
    return env


class SteppedClock:
    """A clock the test moves by hand (the emulator and the app run in real threads)."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


# A restock scenario whose notice goes out by multicast (bot.delivery.multicast).
MULTICAST_RESTOCK = """\
scenarios:
  restock:
    trigger: product.restocked
    category: marketing
    audience_within: 30d
    steps:
      - {id: restocked, delay: 0s, template: restock_notice, expires_after: 2d, multicast: true}
"""
RESTOCK_EVENT = {
    "sku": "MAME-5",
    "name": "有田焼 豆皿5枚セット(花づくし)",
    "product_url": "https://shop.example.jp/items/MAME-5",
}


class ShiftedClock:
    """The real time plus an offset a test moves forward (for subprocesses on real time)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset
