"""The layout filler's rules and the display helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from flex_templates.engine import Layout, RenderError, Scope, fill_layout, wrap_links
from flex_templates.formatting import format_date, format_datetime, format_price, truncate


def _text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def _box(*contents: Any) -> dict[str, Any]:
    return {"type": "box", "layout": "vertical", "contents": list(contents)}


def test_section_block_is_repeated_per_entry_and_removed_when_empty() -> None:
    layout = Layout(
        {
            "type": "bubble",
            "body": _box(
                _text("{{title}}"),
                _box(_text("・{{row.name}}"), _text("{{row.price}}")),
                _box(_text("クーポン"), _text("{{coupon.code}}"), _text("{{coupon.until}}")),
                _box(_text("ポイント"), _text("{{points.text}}")),
            ),
        }
    )
    rows = [Scope({"name": "豆皿", "price": "¥880"}), Scope({"name": "湯のみ", "price": "¥1,200"})]
    sections = {"row": rows, "coupon": [], "points": []}
    filled = fill_layout(layout, Scope({"title": "ご注文"}, sections))
    assert filled["body"]["contents"] == [
        _text("ご注文"),
        _box(_text("・豆皿"), _text("¥880")),
        _box(_text("・湯のみ"), _text("¥1,200")),
        # A section's block is the smallest element holding all its placeholders: with a single
        # placeholder that is the text itself, so a static label beside it stays.
        _box(_text("ポイント")),
    ]


def test_nested_sections_use_the_entry_of_their_parent() -> None:
    layout = Layout(_box(_box(_text("{{item.name}}"), _text("{{item.flag.text}}"))))
    items = [
        Scope({"name": "A"}, {"flag": [Scope({"text": "残り1点"})]}),
        Scope({"name": "B"}, {"flag": []}),
    ]
    filled = fill_layout(layout, Scope({}, {"item": items}))
    assert filled == _box(_box(_text("A"), _text("残り1点")), _box(_text("B")))


def test_layout_itself_is_not_modified() -> None:
    raw = _box(_text("{{name}}"))
    layout = Layout(raw)
    fill_layout(layout, Scope({"name": "一回目"}))
    assert fill_layout(layout, Scope({"name": "二回目"})) == _box(_text("二回目"))
    assert raw == _box(_text("{{name}}"))


def test_values_are_inserted_once_without_re_expansion() -> None:
    layout = Layout(_box(_text("{{a}}と{{b}}")))
    filled = fill_layout(layout, Scope({"a": "{{b}}", "b": '"\\\n'}))
    assert filled["contents"][0]["text"] == '{{b}}と"\\\n'


@pytest.mark.parametrize("bad", ["{{}}", "{{ a b }}", "{{a-b}}", "{{1x}}"])
def test_malformed_placeholders_are_rejected(bad: str) -> None:
    with pytest.raises(RenderError, match="malformed"):
        Layout(_box(_text(bad)))


def test_unknown_and_non_text_values_are_errors() -> None:
    with pytest.raises(RenderError, match="unknown placeholder"):
        fill_layout(Layout(_box(_text("{{missing}}"))), Scope({}))
    with pytest.raises(RenderError, match="no text value"):
        fill_layout(Layout(_box(_text("{{flag}}"))), Scope({"flag": None}))


def test_wrap_links_only_touches_web_uri_actions() -> None:
    message = {
        "hero": {"type": "image", "url": "https://img.example/a.png"},
        "a": {"type": "uri", "label": "見る", "uri": "https://shop.example/a"},
        "b": {"type": "uri", "uri": "tel:0312345678"},
        "c": {"type": "postback", "data": "https://not.a.link/"},
        "d": {
            "type": "uri",
            "label": "PC",
            "uri": "http://shop.example/m",
            "altUri": {"desktop": "https://shop.example/pc"},
        },
    }
    wrap_links(message, lambda url, label: f"T({label}:{url})")
    assert message["hero"]["url"] == "https://img.example/a.png"
    assert message["a"]["uri"] == "T(見る:https://shop.example/a)"
    assert message["b"]["uri"] == "tel:0312345678"
    assert message["c"]["data"] == "https://not.a.link/"
    assert message["d"]["uri"] == "T(PC:http://shop.example/m)"
    assert message["d"]["altUri"]["desktop"] == "T(PC:https://shop.example/pc)"


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("ひのきのまな板", 10, "ひのきのまな板"),
        ("ひのきのまな板", 5, "ひのきの…"),
        ("器🍵🍵🍵", 4, "器🍵…"),  # an emoji is two UTF-16 units and is never split
        ("👨‍👩‍👧‍👦です", 8, "…"),  # a ZWJ family is dropped whole, not cut in half
        ("か\u3099き", 2, "…"),  # a base letter keeps its combining mark
        ("a" * 5, 1, "…"),
    ],
)
def test_truncate(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected


@pytest.mark.parametrize(
    ("yen", "expected"), [(0, "¥0"), (980, "¥980"), (12800, "¥12,800"), (-500, "-¥500")]
)
def test_format_price(yen: int, expected: str) -> None:
    assert format_price(yen) == expected


def test_dates_are_shown_in_the_shop_zone() -> None:
    moment = datetime(2025, 12, 31, 15, 0, tzinfo=UTC)
    assert format_datetime(moment, ZoneInfo("Asia/Tokyo")) == "2026年1月1日(木) 00:00"
    assert format_datetime(moment, ZoneInfo("UTC"), with_year=False) == "12月31日(水) 15:00"
    assert format_date(date(2025, 7, 6)) == "2025年7月6日(日)"
