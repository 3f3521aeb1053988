"""Rendering for LINE: degrade a message over LINE's limits, and short tokens for long links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.delivery.tracking import link_key, sign_link, verify_link
from flex_templates import TemplateRegistry
from flex_templates.registry import TemplateError
from line_messages import validate_messages
from tests.helpers.templates import fake_link

CART = "https://shop.example.jp/cart/C1"
OPTOUT_DATA = "action=optout"


def _cart(count: int) -> dict[str, Any]:
    items = [
        {
            "name": f"信楽焼 一輪挿し {n}号",
            "price": 3300,
            "image_url": f"https://shop.example.jp/images/{n}.jpg?v=" + "x" * 1950,
            "url": f"https://shop.example.jp/items/{n}",
        }
        for n in range(count)
    ]
    return {"shopper_name": "山田 花子", "cart_url": CART, "items": items}


def _link_of(size: int):  # type: ignore[no-untyped-def]
    def link(url: str, label: str) -> str:
        return ("https://bot.example.jp/r/" + "t" * size)[:size]

    return link


def test_a_valid_message_is_sent_as_rendered(registry: TemplateRegistry) -> None:
    data = registry.sample("cart_reminder")
    message, degraded = registry.render_for_line("cart_reminder", data, link=fake_link)
    assert degraded is None
    assert message == registry.render("cart_reminder", data, link=fake_link)


def test_an_oversized_carousel_loses_item_bubbles_to_more(registry: TemplateRegistry) -> None:
    message, degraded = registry.render_for_line("cart_reminder", _cart(11), link=_link_of(990))
    assert validate_messages([message]) == []
    bubbles = message["contents"]["contents"]
    assert len(bubbles) == 7  # the summary, five items and 「他6点」
    assert bubbles[-1]["body"]["contents"][0]["text"] == "他6点"
    assert degraded is not None and "sent with 6 item bubbles" in degraded
    assert degraded.startswith("messages[0].contents: ")


def test_links_too_long_for_any_button_fall_back_to_text(registry: TemplateRegistry) -> None:
    seen: list[str] = []

    def link(url: str, label: str) -> str:
        seen.append(url)
        return f"https://bot.example.jp/r/{len(seen)}/" + "t" * 1100

    message, degraded = registry.render_for_line("cart_reminder", _cart(2), link=link)
    assert validate_messages([message]) == []
    assert message["type"] == "text"
    first_line, tracked = message["text"].split("\n")
    assert first_line == "山田 花子様、お買い物かごに「信楽焼 一輪挿し 0号」ほか1点が残っています。"
    assert seen[-1] == CART and tracked.startswith(f"https://bot.example.jp/r/{len(seen)}/")
    assert [i["action"]["data"] for i in message["quickReply"]["items"]] == [OPTOUT_DATA]
    assert degraded is not None and degraded.endswith("sent as text")


def test_a_message_that_cannot_be_valid_names_lines_objection(
    registry: TemplateRegistry,
) -> None:
    with pytest.raises(TemplateError, match=r"no valid message: .*as text, messages\[0\]\.text"):
        registry.render_for_line("cart_reminder", _cart(1), link=_link_of(6000))


def test_the_item_bubble_cap_keeps_the_more_bubble(registry: TemplateRegistry) -> None:
    data = {**_cart(11), "max_item_bubbles": 3}
    bubbles = registry.render("cart_reminder", data, link=fake_link)["contents"]["contents"]
    assert len(bubbles) == 4
    assert bubbles[-1]["body"]["contents"][0]["text"] == "他9点"


# -- tokens -----------------------------------------------------------------------------------

SECRET = b"test-tracking-secret"
NOW = datetime(2025, 7, 1, 3, 0, tzinfo=UTC)
LONG_URL = "https://shop.example.jp/items/1?q=" + "あ" * 1900


def _sign(url: str, *, stored: bool) -> str:
    return sign_link(
        SECRET,
        url=url,
        delivery_id=7,
        shopper_id=3,
        campaign="cart_abandonment",
        content="reminder-default",
        expires_at=NOW + timedelta(days=90),
        stored=stored,
    )


def test_a_stored_link_token_is_short_whatever_the_url() -> None:
    inline, stored = _sign(LONG_URL, stored=False), _sign(LONG_URL, stored=True)
    assert len(inline) > 5000
    assert len(stored) < 150
    claims = verify_link(SECRET, stored, NOW)
    assert claims.url is None and claims.link_key == link_key(LONG_URL)
    assert (claims.delivery_id, claims.shopper_id) == (7, 3)
    assert verify_link(SECRET, inline, NOW).url == LONG_URL
    assert link_key(LONG_URL) != link_key(LONG_URL + "x")
