"""What the messages say and do: escaping, honesty of urgency, coupons, postbacks, opt-out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flex_templates import TemplateDataError, TemplateRegistry
from flex_templates.registry import SPECS

CART = "https://shop.example.jp/cart"
TRICKY = '皿"特価"\\{{shopper_name}}\n🍣👨‍👩‍👧 </b>'  # fits the 40-unit name limit


def _texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "text" and "text" in node else []
        return own + [t for v in node.values() for t in _texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return []


def _actions(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        own = [node] if node.get("type") in ("uri", "postback") else []
        return own + [a for v in node.values() for a in _actions(v)]
    if isinstance(node, list):
        return [a for v in node for a in _actions(v)]
    return []


def test_special_characters_come_through_literally(registry: TemplateRegistry) -> None:
    data = {"shopper_name": "O'Brien {{x}}", "cart_url": CART, "items": [{"name": TRICKY}]}
    message = registry.render("cart_reminder", data)
    texts = _texts(message["contents"])
    assert TRICKY in texts
    assert "O'Brien {{x}}様、ご来店ありがとうございます。" in texts
    assert message["altText"].startswith("O'Brien {{x}}様、")
    assert json.loads(json.dumps(message)) == message


def test_placeholder_text_in_values_is_not_expanded_in_postbacks(
    registry: TemplateRegistry,
) -> None:
    message = registry.render("faq_answer", {"faq_id": "a&b={{faq_id}}", "answer": "{{answer}}"})
    datas = [a["data"] for a in _actions(message) if a["type"] == "postback"]
    assert datas == [
        "action=faq_feedback&faq_id=a%26b%3D%7B%7Bfaq_id%7D%7D&resolved=1",
        "action=faq_feedback&faq_id=a%26b%3D%7B%7Bfaq_id%7D%7D&resolved=0",
    ]
    assert "{{answer}}" in _texts(message["contents"])


def test_low_stock_flags_only_reported_items_with_real_count(registry: TemplateRegistry) -> None:
    items = [
        {"name": "マグカップ", "stock": 2},  # few left, but the shop did not flag it
        {"name": "豆皿", "stock": 2, "low_stock": True},
        {"name": "箸置き", "low_stock": True},
        {"name": "カッティングボード", "stock": 50},
    ]
    message = registry.render("cart_low_stock", {"cart_url": CART, "items": items})
    bubbles = message["contents"]["contents"]
    flags = {
        next(t for t in _texts(b) if t in {"マグカップ", "豆皿", "箸置き", "カッティングボード"}): [
            t for t in _texts(b) if t.startswith("残り") or t == "在庫わずか"
        ]
        for b in bubbles[1:]
    }
    assert flags == {
        "豆皿": ["残り2点"],
        "箸置き": ["在庫わずか"],
        "マグカップ": [],
        "カッティングボード": [],
    }
    assert "在庫が残りわずかの商品が2点あります。" in _texts(bubbles[0])


def test_low_stock_without_flagged_items_makes_no_urgency_claim(
    registry: TemplateRegistry,
) -> None:
    items = [{"name": "マグカップ", "stock": 1}]
    message = registry.render("cart_low_stock", {"cart_url": CART, "items": items})
    everything = " ".join(_texts(message["contents"])) + message["altText"]
    assert "わずか" not in everything
    assert "残り" not in everything


def test_coupon_expiry_in_shop_local_time(registry: TemplateRegistry) -> None:
    data = {
        "cart_url": CART,
        "items": [{"name": "豆皿", "price": 1000}],
        "coupon": {"code": "KAGO500", "expires_at": "2025-07-31T15:30:00+00:00"},
    }
    texts = _texts(registry.render("cart_incentive", data)["contents"])
    assert "KAGO500" in texts
    assert "2025年8月1日(金) 00:30まで有効" in texts
    data["timezone"] = "America/Los_Angeles"
    texts = _texts(registry.render("cart_incentive", data)["contents"])
    assert "2025年7月31日(木) 08:30まで有効" in texts


def test_free_shipping_distance(registry: TemplateRegistry) -> None:
    items = [{"name": "豆皿", "price": 2600, "quantity": 3}]
    data = {"cart_url": CART, "items": items, "free_shipping_threshold": 9000}
    message = registry.render("cart_incentive", data)
    assert "あと¥1,200で送料無料" in _texts(message["contents"])
    assert "あと¥1,200で送料無料" in message["altText"]
    assert not any("クーポン" in t for t in _texts(message["contents"]))
    data["free_shipping_threshold"] = 5000
    texts = _texts(registry.render("cart_incentive", data)["contents"])
    assert "送料無料でお届けします" in texts
    assert not any(t.startswith("あと") for t in texts)


def test_subtotal_is_computed_from_items(registry: TemplateRegistry) -> None:
    items = [{"name": "豆皿", "price": 12800, "quantity": 2}, {"name": "箸置き", "price": 500}]
    texts = _texts(registry.render("cart_reminder", {"cart_url": CART, "items": items})["contents"])
    assert "¥26,100" in texts
    assert "小計(3点)" in texts


def test_faq_answer_feedback_postbacks(registry: TemplateRegistry) -> None:
    message = registry.render("faq_answer", {"faq_id": 12, "answer": "660円です。"})
    postbacks = {a["label"]: a["data"] for a in _actions(message) if a["type"] == "postback"}
    assert postbacks == {
        "はい": "action=faq_feedback&faq_id=12&resolved=1",
        "いいえ(担当者と話す)": "action=faq_feedback&faq_id=12&resolved=0",
    }
    assert "解決しましたか?" in _texts(message["contents"])


def test_faq_candidates_quick_replies(registry: TemplateRegistry) -> None:
    candidates = [{"faq_id": i, "question": f"質問その{i}について教えてください"} for i in range(8)]
    message = registry.render("faq_candidates", {"candidates": candidates})
    items = message["quickReply"]["items"]
    assert [i["action"]["data"] for i in items] == [f"action=faq_pick&faq_id={i}" for i in range(5)]
    assert all(len(i["action"]["label"]) <= 20 for i in items)
    assert items[0]["action"]["displayText"] == "質問その0について教えてください"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_marketing_messages_and_only_them_offer_optout(
    registry: TemplateRegistry, name: str
) -> None:
    message = registry.render(name, registry.sample(name))
    quick = message.get("quickReply", {}).get("items", [])
    has_optout = any(i["action"].get("data") == "action=optout" for i in quick)
    assert has_optout == registry.is_marketing(name)
    expected = {
        "cart_reminder",
        "cart_incentive",
        "cart_low_stock",
        "repeat_offer",
        "restock_notice",
        "abandonment_survey",  # unasked-for, after the reminders: the marketing rules apply
    }
    assert registry.is_marketing(name) == (name in expected)


def test_cart_reminder_has_apology_note_and_cart_button(registry: TemplateRegistry) -> None:
    message = registry.render("cart_reminder", registry.sample("cart_reminder"))
    summary = message["contents"]["contents"][0]
    assert any("行き違い" in t for t in _texts(summary))
    primary = summary["footer"]["contents"][0]
    assert primary["style"] == "primary"
    assert primary["action"]["uri"] == "https://shop.example.jp/cart?utm_id=42#items"


def test_japanese_urls_are_percent_encoded(registry: TemplateRegistry) -> None:
    items = [{"name": "器", "url": "https://shop.example.jp/items/美濃焼 マグ"}]
    message = registry.render("cart_reminder", {"cart_url": CART, "items": items})
    uris = [a["uri"] for a in _actions(message) if a["type"] == "uri"]
    assert "https://shop.example.jp/items/%E7%BE%8E%E6%BF%83%E7%84%BC%20%E3%83%9E%E3%82%B0" in uris


def test_unsafe_item_links_fall_back_to_the_cart(registry: TemplateRegistry) -> None:
    items = [{"name": "器", "url": "javascript:alert(1)"}]
    message = registry.render("cart_reminder", {"cart_url": CART, "items": items})
    uris = {a["uri"] for a in _actions(message) if a["type"] == "uri"}
    assert uris == {CART}


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        ("cart_reminder", {"items": []}, "cart_url"),
        ("cart_reminder", {"cart_url": "ftp://x"}, "cart_url"),
        ("purchase_thanks", {}, "order_number"),
        ("faq_answer", {"faq_id": 1}, "answer"),
        ("escalation_off_hours", {"reply_at": "2025-07-07T10:00:00"}, "reply_at"),
    ],
)
def test_missing_required_fields_raise_data_error(
    registry: TemplateRegistry, name: str, data: dict[str, Any], field: str
) -> None:
    with pytest.raises(TemplateDataError, match=field):
        registry.render(name, data)
