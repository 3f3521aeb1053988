"""Every template renders to a message LINE accepts, for realistic and for extreme data."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from linebot.v3.messaging import FlexMessage

from flex_templates import TemplateRegistry
from flex_templates.registry import SPECS
from line_messages.validation import utf16_len, validate_messages
from tests.helpers.templates import PLACEHOLDER_IMAGE, fake_link

# Over 200 characters with emoji.
LONG_NAME = "【数量限定】" + "職人が一つひとつ手作りした美濃焼の器🍵✨" * 10
FAMILY = "👨‍👩‍👧‍👦"


def _long_items(count: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{LONG_NAME}{FAMILY}{index}",
            "price": 1_000_000 + index,
            "quantity": 99,
            "variant": "特大サイズ / " + "カラー" * 40,
            "image_url": f"https://shop.example.jp/images/{index}.jpg",
            "url": f"https://shop.example.jp/items/{index}?ref=line&name=器 {index}",
            "review_url": f"https://shop.example.jp/items/{index}/review",
            "stock": index % 3,
            "low_stock": index % 2 == 0,
        }
        for index in range(count)
    ]


def _extreme(registry: TemplateRegistry, name: str) -> dict[str, Any]:
    data = copy.deepcopy(registry.sample(name))
    data["shopper_name"] = "寿限無寿限無五劫の擦り切れ海砂利水魚の水行末雲来末風来末" * 3
    data["shop_name"] = "とても長い名前のお店" * 20
    if "items" in data:
        data["items"] = _long_items(40)
    if "item" in data:
        data["item"] = _long_items(1)[0]
    if "coupon" in data:
        data["coupon"]["code"] = "SUMMER" * 30
        data["coupon"]["description"] = "とってもお得" * 50
    if "answer" in data:
        data["answer"] = "ご不明な点はお気軽にお問い合わせください。🙇‍♀️\n" * 200
        data["question"] = "送料" * 300
    if "candidates" in data:
        data["candidates"] = [
            {"faq_id": f"faq-{i}", "question": f"{i}番目の質問{LONG_NAME}"} for i in range(30)
        ]
    if "benefit" in data:
        data["benefit"] = "特典" * 200
    if "business_hours" in data:
        data["business_hours"] = "平日" * 100
    if "incentive" in data:
        data["incentive"] = "ポイント" * 100
    return data


def _minimal(name: str) -> dict[str, Any]:
    """Only the required fields; no names, images, prices or optional parts."""
    cart_like = {"cart_url": "https://shop.example.jp/cart", "items": [{"name": "湯のみ"}]}
    return {
        "cart_reminder": cart_like,
        "cart_incentive": cart_like,
        "cart_low_stock": cart_like,
        "purchase_thanks": {"order_number": "1001"},
        "shipping_notice": {"order_number": "1001"},
        "review_request": {"items": [{"name": "湯のみ", "url": "https://shop.example.jp/i/1"}]},
        "repeat_offer": {"shop_url": "https://shop.example.jp/", "items": [{"name": "湯のみ"}]},
        "restock_notice": {"item": {"name": "湯のみ", "url": "https://shop.example.jp/i/1"}},
        "faq_answer": {"faq_id": 1, "answer": "はい、可能です。"},
        "faq_candidates": {"candidates": [{"faq_id": 1, "question": "返品できますか?"}]},
        "account_link_prompt": {"login_url": "https://shop.example.jp/link"},
        "escalation_handed": {},
        "escalation_off_hours": {"reply_at": "2025-07-07T01:00:00+00:00"},
        "escalation_returned": {},
        "abandonment_survey": {},
        "payment_reminder": {
            "order_number": "1001",
            "payment": {
                "deadline": "2025-07-04T14:59:00Z",
                "amount": 1200,
                "url": "https://shop.example.jp/pay",
            },
        },
    }[name]


def _assert_valid(message: dict[str, Any]) -> None:
    assert validate_messages([message]) == []
    FlexMessage.from_dict(message)
    assert message["altText"].strip()


def _all_strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _all_strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _all_strings(v)]
    return [node] if isinstance(node, str) else []


@pytest.mark.parametrize("name", sorted(SPECS))
def test_sample_renders_valid(registry: TemplateRegistry, name: str) -> None:
    _assert_valid(registry.render(name, registry.sample(name), link=fake_link))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_extreme_data_renders_valid(registry: TemplateRegistry, name: str) -> None:
    message = registry.render(name, _extreme(registry, name), link=fake_link)
    _assert_valid(message)
    assert not any("{{" in s for s in _all_strings(message))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_minimal_data_renders_valid(registry: TemplateRegistry, name: str) -> None:
    message = registry.render(name, _minimal(name))
    _assert_valid(message)
    assert "お客様" in message["altText"] or name.startswith(("faq", "account", "escalation"))


@pytest.mark.parametrize("name", ["cart_reminder", "cart_incentive", "cart_low_stock"])
def test_forty_items_end_in_more_bubble_linking_to_cart(
    registry: TemplateRegistry, name: str
) -> None:
    data = {"cart_url": "https://shop.example.jp/cart", "items": _long_items(40)}
    bubbles = registry.render(name, data)["contents"]["contents"]
    assert len(bubbles) == 12
    more = bubbles[-1]
    assert more["body"]["contents"][0]["text"] == "他30点"
    assert more["footer"]["contents"][0]["action"]["uri"] == "https://shop.example.jp/cart"


def test_eleven_items_fit_without_more_bubble(registry: TemplateRegistry) -> None:
    data = {"cart_url": "https://shop.example.jp/cart", "items": _long_items(11)}
    bubbles = registry.render("cart_reminder", data)["contents"]["contents"]
    assert len(bubbles) == 12
    assert not any("他" in s for s in _all_strings(bubbles[-1]["body"]))


def test_long_names_are_truncated_with_ellipsis(registry: TemplateRegistry) -> None:
    data = {"cart_url": "https://shop.example.jp/cart", "items": _long_items(1)}
    name_text = registry.render("cart_reminder", data)["contents"]["contents"][1]["body"]
    shown = name_text["contents"][0]["text"]
    assert shown.endswith("…")
    assert utf16_len(shown) <= 40
    assert shown.startswith("【数量限定】職人が")


def test_missing_and_non_https_images_use_placeholder(registry: TemplateRegistry) -> None:
    items = [
        {"name": "湯のみ"},
        {"name": "急須", "image_url": "http://shop.example.jp/kyusu.jpg"},
        {"name": "茶筒", "image_url": "https://shop.example.jp/chazutsu.jpg"},
    ]
    data = {"cart_url": "https://shop.example.jp/cart", "items": items}
    bubbles = registry.render("cart_reminder", data)["contents"]["contents"]
    urls = [b["hero"]["url"] for b in bubbles[1:]]
    assert urls == [PLACEHOLDER_IMAGE, PLACEHOLDER_IMAGE, "https://shop.example.jp/chazutsu.jpg"]


def test_alt_text_fits_limits_with_huge_names(registry: TemplateRegistry) -> None:
    data = _extreme(registry, "cart_reminder")
    alt = registry.render("cart_reminder", data)["altText"]
    assert utf16_len(alt) <= 400
    assert "\n" not in alt


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_web_link_goes_through_the_wrapper(registry: TemplateRegistry, name: str) -> None:
    seen: list[tuple[str, str]] = []

    def link(url: str, label: str) -> str:
        seen.append((url, label))
        return f"https://bot.example.jp/r/{len(seen)}"

    message = registry.render(name, registry.sample(name), link=link)
    uris = [
        s
        for s in _all_strings(message)
        if s.startswith(("http://", "https://")) and not s.startswith("https://bot.example.jp/r/")
    ]
    images = {s for s in _all_strings(message) if s.startswith("https://shop.example.jp/images/")}
    assert set(uris) <= images | {PLACEHOLDER_IMAGE}
    assert all(not url.startswith("https://bot.example.jp/") for url, _ in seen)
    has_links = name not in {
        "faq_answer",
        "faq_candidates",
        "escalation_handed",
        "escalation_off_hours",
        "escalation_returned",
        "abandonment_survey",
    }
    assert bool(seen) == has_links
