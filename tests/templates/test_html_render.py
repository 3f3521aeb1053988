"""The HTML renderer of LINE messages: every shipped template, LINE's layout rules, edge cases."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from flex_templates import TemplateRegistry
from flex_templates.html import (
    render_message,
    render_messages,
    render_quick_replies,
    safe_link,
    same_origin_images,
)
from flex_templates.html_styles import value_classes_in, value_stylesheet
from flex_templates.registry import SPECS
from tests.helpers.html import ParsedHtml

TAGS = {"div", "p", "span", "a", "button", "img"}
ATTRIBUTES = {"class", "dir", "href", "title", "rel", "target", "type", "role", "tabindex", "src"}
ATTRIBUTES |= {"alt", "loading", "aria-label"}
HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>&amp;"


class Markup(ParsedHtml):
    """Collects tags, attributes and text of rendered markup."""

    def classes(self) -> list[str]:
        return [c for _, a in self.tags for c in (a.get("class") or "").split()]


def assert_safe(source: str) -> Markup:
    """Only known tags and attributes, links only to safe schemes, no style, no handlers."""
    markup = Markup(source)
    for tag, attrs in markup.tags:
        assert tag in TAGS, tag
        for name, value in attrs.items():
            assert name in ATTRIBUTES or name.startswith("data-"), (tag, name)
            if name == "href":
                assert safe_link(value) == value, value
    assert "<script" not in source.lower()
    assert " style=" not in source and "onerror=" not in source.replace("onerror=alert", "")
    return markup


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def _shown_texts(message: dict[str, Any]) -> list[str]:
    """Texts LINE shows: text components, spans and button labels."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("text", "span") and node.get("text"):
                found.append(node["text"])
            if node.get("type") == "button":
                found.append(node["action"]["label"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message["contents"])
    return found


def _variants(registry: TemplateRegistry) -> list[tuple[str, str | None]]:
    return [(name, v) for name in sorted(SPECS) for v in [None, *registry.variants(name)]]


# -- every shipped template --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_template_renders_its_sample_safely_and_completely(
    registry: TemplateRegistry, name: str
) -> None:
    for variant in [None, *registry.variants(name)]:
        message = registry.render(name, registry.sample(name), variant=variant)
        rendered = render_messages([message])
        markup = assert_safe(rendered.html)
        text = "".join(markup.text)
        for shown in _shown_texts(message):
            assert shown in text, shown
        bubbles = message["contents"].get("contents", [message["contents"]])
        assert markup.classes().count("fx-bubble") == len(bubbles)
        # Every free value of the layout has a rule, and only value classes produce rules.
        css = rendered.value_css()
        for value_class in rendered.value_classes:
            assert f".{value_class}" in css, value_class


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hostile_text_in_every_field_stays_text(registry: TemplateRegistry, name: str) -> None:
    message = registry.render(name, registry.sample(name))

    def poison(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (v if k == "type" else poison(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [poison(v) for v in node]
        return node + HOSTILE if isinstance(node, str) else node

    hostile = poison(copy.deepcopy(message))
    source = render_message(hostile) + render_quick_replies(hostile)
    markup = assert_safe(source)
    assert HOSTILE in "".join(markup.text)  # shown as typed, never interpreted
    for tag, attrs in markup.tags:
        assert tag != "img"  # no image without an image policy
        assert "href" not in attrs  # every hostile URI stopped being a link


def test_text_message_and_unknown_types() -> None:
    source = render_messages(
        [
            {"type": "text", "text": "1行目\n2行目 <b>太字</b>"},
            {"type": "sticker", "packageId": "1", "stickerId": "2"},
            "not a message",  # type: ignore[list-item]
        ]
    ).html
    markup = assert_safe(source)
    assert "1行目\n2行目 <b>太字</b>" in "".join(markup.text)
    assert "[sticker]" in "".join(markup.text)


# -- edge cases --------------------------------------------------------------------------------


def _bubble(text: str = "商品", **extra: Any) -> dict[str, Any]:
    body = {"type": "box", "layout": "vertical", "contents": [{"type": "text", "text": text}]}
    return {"type": "bubble", **extra, "body": body}


def test_a_twelve_bubble_carousel_renders_every_bubble_side_by_side() -> None:
    message = {
        "type": "flex",
        "altText": "12点",
        "contents": {"type": "carousel", "contents": [_bubble(f"商品{i}") for i in range(12)]},
    }
    markup = assert_safe(render_message(message))
    assert markup.classes().count("fx-carousel") == 1
    assert markup.classes().count("fx-bubble") == 12
    assert [t for t in markup.text if t.startswith("商品")] == [f"商品{i}" for i in range(12)]


def test_a_twelve_item_cart_reminder(registry: TemplateRegistry) -> None:
    data = registry.sample("cart_reminder")
    item = data["items"][0]
    data["items"] = [{**item, "name": f"{item['name']} {i}"} for i in range(14)]
    message, degraded = registry.render_for_line("cart_reminder", data)
    bubbles = message["contents"]["contents"]
    markup = assert_safe(render_message(message))
    assert markup.classes().count("fx-bubble") == len(bubbles) <= 12
    assert degraded is None or "item bubbles" in degraded


def test_very_long_names_are_kept_whole_and_clamped_by_css(registry: TemplateRegistry) -> None:
    data = registry.sample("cart_reminder")
    long_name = "とても長い商品名" * 40
    data["items"][0]["name"] = long_name
    data["shopper_name"] = "長い名前" * 30
    message = registry.render("cart_reminder", data)
    markup = assert_safe(render_message(message))
    shown = "".join(markup.text)
    name_in_message = next(t for t in _shown_texts(message) if t.startswith("とても長い"))
    assert name_in_message in shown
    # The item name wraps to at most three lines (maxLines), as the layout asks.
    assert "fx-clamp" in markup.classes() and "fv-ml-3" in markup.classes()
    assert ".fv-ml-3 .fx-t{-webkit-line-clamp:3;line-clamp:3}" in value_stylesheet(["fv-ml-3"])


def test_missing_and_foreign_images_are_placeholders_same_origin_ones_are_shown() -> None:
    hero = {"type": "image", "url": "https://cdn.example.jp/a.png", "size": "full"}
    local = {"type": "image", "url": "http://127.0.0.1:8000/static/b.png", "aspectRatio": "20:13"}
    broken = {"type": "image", "url": "javascript:alert(1)"}
    missing = {"type": "image"}
    bubble = {
        "type": "bubble",
        "hero": hero,
        "body": {"type": "box", "layout": "vertical", "contents": [local, broken, missing]},
    }
    message = {"type": "flex", "altText": "画像", "contents": bubble}
    source = render_message(message, image_src=same_origin_images("http://127.0.0.1:8000"))
    markup = assert_safe(source)
    images = [a for t, a in markup.tags if t == "img"]
    assert [a["src"] for a in images] == ["http://127.0.0.1:8000/static/b.png"]
    assert markup.classes().count("fx-ph") == 3
    assert "cdn.example.jp" in "".join(markup.text)
    assert "fv-ar-20-13" in markup.classes() and "fx-is-full" in markup.classes()


# -- LINE's layout rules -----------------------------------------------------------------------


def _classes_of(component: dict[str, Any], layout: str = "horizontal") -> list[list[str]]:
    box = {"type": "box", "layout": layout, "contents": [component]}
    message = {"type": "flex", "altText": "x", "contents": _bubble_with(box)}
    markup = Markup(render_message(message))
    return [(a.get("class") or "").split() for _, a in markup.tags]


def _bubble_with(box: dict[str, Any]) -> dict[str, Any]:
    return {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": [box]}}


def test_flex_ratios_spacing_and_margin_follow_the_parent_box() -> None:
    box = {
        "type": "box",
        "layout": "horizontal",
        "spacing": "md",
        "contents": [
            {"type": "text", "text": "a", "flex": 0},
            {"type": "text", "text": "b"},
            {"type": "text", "text": "c", "flex": 3, "margin": "xl"},
            {"type": "filler"},
        ],
    }
    message = {"type": "flex", "altText": "x", "contents": _bubble_with(box)}
    rendered = render_messages([message])
    classes = Markup(rendered.html).classes()
    assert {"fx-h", "fx-sp-md", "fv-f-0", "fv-f-3", "fx-m-xl", "fx-filler"} <= set(classes)
    css = rendered.value_css()
    # flex 0 keeps the content's width; flex N shares the width from a zero basis (LINE).
    assert ".fx-h>.fv-f-0,.fx-b>.fv-f-0,.fx-v>.fv-f-0{flex:0 0 auto}" in css
    assert ".fx-h>.fv-f-3,.fx-b>.fv-f-3{flex:3 0 0;min-width:0}" in css
    assert ".fx-v>.fv-f-3{flex:3 0 auto}" in css


def test_keyword_and_pixel_sizes_colours_and_text_styles() -> None:
    text = {
        "type": "text",
        "text": "価格",
        "size": "13px",
        "color": "#FF0000",
        "weight": "bold",
        "style": "italic",
        "decoration": "line-through",
        "align": "end",
        "gravity": "center",
        "wrap": True,
        "lineSpacing": "6px",
    }
    text_classes = next(c for c in _classes_of(text) if "fx-text" in c)
    assert {"fv-fs-13px", "fv-c-ff0000", "fx-bold", "fx-italic", "fx-wrap"} <= set(text_classes)
    assert {"fx-deco-line-through", "fx-al-end", "fx-gr-center", "fv-ls-6px"} <= set(text_classes)
    keyword = next(
        c for c in _classes_of({"type": "text", "text": "x", "size": "xxl"}) if "fx-text" in c
    )
    assert "fx-ts-xxl" in keyword and "fx-wrap" not in keyword  # one line, ellipsis
    default = next(c for c in _classes_of({"type": "text", "text": "x"}) if "fx-text" in c)
    assert "fx-ts-md" in default  # LINE's default size


def test_buttons_separators_spacers_icons_and_boxes() -> None:
    contents = [
        {
            "type": "button",
            "style": "primary",
            "height": "sm",
            "color": "#123456",
            "action": {
                "type": "postback",
                "label": "買う",
                "data": "buy=1",
                "displayText": "買います",
            },
        },
        {
            "type": "button",
            "style": "secondary",
            "action": {"type": "message", "label": "質問", "text": "送料は?"},
        },
        {"type": "button", "action": {"type": "uri", "label": "電話", "uri": "tel:0312345678"}},
        {
            "type": "button",
            "action": {"type": "uri", "label": "危険", "uri": "javascript:alert(1)"},
        },
        {"type": "separator", "color": "#CCCCCC", "margin": "lg"},
        {"type": "spacer", "size": "xl"},
        {
            "type": "box",
            "layout": "baseline",
            "contents": [
                {"type": "icon", "url": "https://example.jp/star.png", "size": "sm"},
                {
                    "type": "text",
                    "text": "4.5",
                    "contents": [{"type": "span", "text": "★", "color": "#FFAA00"}],
                },
            ],
        },
        {
            "type": "box",
            "layout": "vertical",
            "paddingAll": "12px",
            "cornerRadius": "md",
            "borderWidth": "light",
            "borderColor": "#000000",
            "backgroundColor": "#FFFFFFCC",
            "justifyContent": "center",
            "alignItems": "flex-end",
            "width": "50%",
            "position": "absolute",
            "offsetTop": "4px",
            "contents": [],
        },
    ]
    message = {
        "type": "flex",
        "altText": "x",
        "contents": {
            "type": "bubble",
            "size": "kilo",
            "direction": "rtl",
            "body": {"type": "box", "layout": "vertical", "contents": contents},
        },
        "quickReply": {
            "items": [
                {
                    "type": "action",
                    "action": {"type": "postback", "label": "配信停止", "data": "action=optout"},
                }
            ]
        },
    }
    source = render_message(message)
    markup = assert_safe(source)
    classes = set(markup.classes())
    assert {"fx-btn-primary", "fx-btn-sm", "fv-btn-123456", "fx-btn-secondary", "fx-btn-link"} <= (
        classes
    )
    assert {"fx-sep", "fv-sc-cccccc", "fx-m-lg", "fx-spacer", "fx-spc-xl", "fx-b", "fx-icon"} <= (
        classes
    )
    assert {"fv-pa-12px", "fx-cr-md", "fx-bw-light", "fv-bc-000000", "fv-bg-ffffffcc"} <= classes
    assert {"fx-jc-center", "fx-ai-flex-end", "fv-w-50pct", "fx-abs", "fv-ot-4px"} <= classes
    assert {"fx-kilo", "fx-span", "fv-c-ffaa00"} <= classes
    buttons = {
        a.get("title"): (t, a) for t, a in markup.tags if "fx-action" in (a.get("class") or "")
    }
    assert buttons["買う"][0] == "button" and buttons["買う"][1]["data-data"] == "buy=1"
    assert buttons["買う"][1]["data-display-text"] == "買います"
    assert buttons["質問"][1]["data-text"] == "送料は?"
    assert buttons["電話"][0] == "a" and buttons["電話"][1]["href"] == "tel:0312345678"
    assert buttons["危険"][0] == "span" and buttons["危険"][1]["data-blocked"] == "true"
    assert ("dir", "rtl") in [(k, v) for _, a in markup.tags for k, v in a.items()]
    quick = Markup(render_quick_replies(message))
    assert [a.get("data-data") for t, a in quick.tags if t == "button"] == ["action=optout"]


def test_the_value_stylesheet_only_produces_colours_and_lengths() -> None:
    crafted = [
        "fv-c-red;}body{x",
        "fv-w-1px}*{x",
        "fv-c-06c755",
        "fv-zz-10px",
        "fv-w-10em",
        "fv-f--1",
        "fv-ar-0-1",
        "not-a-value",
        "fv-w-12_5px",
    ]
    css = value_stylesheet(crafted)
    assert css == ".fv-c-06c755{color:#06c755}\n.fv-w-12_5px{width:12.5px;flex-basis:auto}\n"
    assert re.fullmatch(r"[.\w\-{}:#;%,> +/*]*\n?", css.replace("\n", ""))
    assert value_classes_in('<div class="fx-text fv-c-06c755 fv-w-1px"></div>') == [
        "fv-c-06c755",
        "fv-w-1px",
    ]
