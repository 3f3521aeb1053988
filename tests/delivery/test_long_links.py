"""Long product URLs and big carts still make messages LINE accepts, end to end.

The sender checks each rendered message against LINE's limits (`line_messages`): links too
long for a token are stored and the token carries a key; a carousel over 50 KB loses item
bubbles to 「他N点」; failing that the message goes as text; a message that can never be
valid fails at once with LINE's reason instead of a 400 on every retry.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from rq import SimpleWorker
from sqlalchemy import select

from bot.app import create_app
from bot.delivery import jobs as delivery_jobs
from bot.delivery.tracking import link_key
from bot.models import Delivery, DeliveryState, TrackedLink
from line_messages import URI_MAX, json_size, validate_messages
from tests.helpers.delivery import add_shopper, cart_body, cart_item
from tests.helpers.line import SHOPPER_ID
from tests.helpers.shop_api import ShopApi, tracking_token

NOW = datetime(2025, 7, 1, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo


def _long(prefix: str, size: int = 2000) -> str:
    """An URL of exactly `size` characters (the most the shop API accepts is 2,000)."""
    return prefix + "x" * (size - len(prefix))


def _items(count: int) -> list[dict[str, Any]]:
    items = []
    for n in range(count):
        item = cart_item(f"SKU-{n}", f"信楽焼 一輪挿し {n}号", 3300 + n)
        item["product_url"] = _long(f"https://shop.example.jp/items/SKU-{n}?ref=line&q=")
        item["image_url"] = _long(f"https://shop.example.jp/images/SKU-{n}.jpg?w=600&v=")
        items.append(item)
    return items


class SteppedClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock(NOW)


def _app(settings, db, redis, emulator, clock, **changes: Any) -> Flask:
    """The app with the real SDK gateway, pushing over HTTP to the emulator's shopper."""
    emulator.add_user(SHOPPER_ID, display_name="山田 花子")
    return create_app(
        settings.with_changes(line_api_base_url=emulator.base_url, **changes),
        redis=redis,
        database=db,
        clock=clock,
    )


def _remind(app: Flask, redis, clock: SteppedClock, items: list[dict[str, Any]]) -> Delivery:
    """Post the cart, move to the reminder's time, dispatch and send; the reminder row."""
    add_shopper(app, now=clock.now())
    body = {
        "type": "cart.updated",
        "event_id": "ev-long",
        "occurred_at": clock.now().isoformat(),
        "member_id": "M123",
        **cart_body("C1", items),
    }
    api = ShopApi(app.test_client())
    assert api.post("/events", body, timestamp=int(clock.now().timestamp())).status_code == 202
    clock.current += timedelta(minutes=15)
    with app.app_context():
        assert delivery_jobs.dispatch_due_deliveries() == 1
    worker = SimpleWorker(app.extensions["bot"].queues.all(), connection=redis)
    with app.app_context():
        worker.work(burst=True, logging_level="WARNING")
        session = app.extensions["bot"].db.session()
        return session.scalars(select(Delivery).where(Delivery.step_id == "reminder")).one()


def _uris(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("uri", "desktop") and isinstance(value, str):
                yield value
            else:
                yield from _uris(value)
    elif isinstance(node, list):
        for value in node:
            yield from _uris(value)


def test_eleven_items_with_2000_character_urls_reach_the_shopper(
    settings, db, redis, emulator, clock
) -> None:
    app = _app(settings, db, redis, emulator, clock)
    reminder = _remind(app, redis, clock, _items(11))
    assert reminder.state is DeliveryState.SENT, reminder.reason
    [entry] = emulator.inbox(SHOPPER_ID)
    message = entry["message"]
    assert validate_messages([message]) == []
    bubbles = message["contents"]["contents"]
    assert len(bubbles) == 12  # the summary and all eleven items
    uris = list(_uris(message))
    assert uris and all(len(u) <= URI_MAX for u in uris)
    # The product button leads to the full 2,000-character URL.
    button = bubbles[1]["footer"]["contents"][0]["action"]["uri"]
    response = app.test_client().get(urlsplit(button).path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(_items(11)[0]["product_url"] + "&utm_source")


def test_a_carousel_over_50_kb_is_sent_with_fewer_bubbles(
    settings, db, redis, emulator, clock
) -> None:
    # A long PUBLIC_BASE_URL makes every tracked link about 830 characters: eleven bubbles of
    # links and 2,000-character images are over LINE's 50 KB.
    base = _long("https://bot.example.com/", 700)
    app = _app(settings, db, redis, emulator, clock, public_base_url=base)
    full = app.extensions["bot"].templates.render(
        "cart_reminder",
        {"cart_url": "https://shop.example.jp/cart/C1", "items": _long_items_for(base)},
    )
    assert json_size(full["contents"]) > 50_000  # what used to be pushed and refused
    reminder = _remind(app, redis, clock, _items(11))
    assert reminder.state is DeliveryState.SENT, reminder.reason
    [entry] = emulator.inbox(SHOPPER_ID)
    bubbles = entry["message"]["contents"]["contents"]
    assert 2 < len(bubbles) < 12
    more = bubbles[-1]["body"]["contents"][0]["text"]
    assert more == f"他{11 - (len(bubbles) - 2)}点"


def _long_items_for(base: str) -> list[dict[str, Any]]:
    """The eleven items as the template sees them, links already as long as tracked ones."""
    return [
        {
            "name": i["name"],
            "price": i["price"],
            "image_url": i["image_url"],
            "url": _long(f"{base}/r/", len(base) + 130),
        }
        for i in _items(11)
    ]


def test_a_message_that_can_never_be_valid_fails_with_the_reason(
    settings, db, redis, emulator, clock
) -> None:
    # Every link, even stored, is longer than a text message may be: nothing can be sent.
    base = _long("https://bot.example.com/", 5000)
    app = _app(settings, db, redis, emulator, clock, public_base_url=base)
    reminder = _remind(app, redis, clock, _items(1))
    assert reminder.state is DeliveryState.FAILED
    assert reminder.reason.startswith("render: no valid message: ")
    assert "messages[0].text" in reminder.reason
    assert reminder.attempts == 0  # never pushed: no LINE 400, no retry
    assert emulator.inbox(SHOPPER_ID) == []


def test_a_stored_link_redirects_only_when_kept_and_on_the_shops_hosts(app: Flask, client):
    kept = _long("https://shop.example.jp/items/1?q=")
    elsewhere = _long("https://evil.example/items/1?q=")
    not_stored = client.get(f"/r/{tracking_token(app, kept, stored=True)}")
    assert not_stored.status_code == 404
    with app.app_context():
        session = app.extensions["bot"].db.session()
        for url in (kept, elsewhere):
            session.add(TrackedLink(key=link_key(url), url=url, created_at=datetime.now(UTC)))
        session.commit()
    response = client.get(f"/r/{tracking_token(app, kept, stored=True)}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(kept + "&utm_source=line")
    assert client.get(f"/r/{tracking_token(app, elsewhere, stored=True)}").status_code == 404
