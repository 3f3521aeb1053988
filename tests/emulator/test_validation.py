"""Message validation: LINE's documented limits, checked on the raw dicts and over HTTP."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from line_emulator.server import EmulatorServer
from line_messages.validation import (
    BUBBLE_MAX_BYTES,
    grapheme_len,
    json_size,
    utf16_len,
    validate_messages,
)
from tests.helpers.emulator import Api, text


def bubble(title: str = "オーガニックコットンTシャツ", body_text: str = "¥3,980") -> dict[str, Any]:
    """A realistic cart-reminder bubble."""
    return {
        "type": "bubble",
        "hero": {
            "type": "image",
            "url": "https://shop.example.jp/img/1.jpg",
            "size": "full",
            "aspectRatio": "20:13",
            "aspectMode": "cover",
        },
        "body": {
            "type": "box",
            "layout": "vertical",
            "spacing": "sm",
            "paddingAll": "12px",
            "contents": [
                {"type": "text", "text": title, "weight": "bold", "wrap": True},
                {
                    "type": "box",
                    "layout": "baseline",
                    "contents": [
                        {"type": "icon", "url": "https://shop.example.jp/img/star.png"},
                        {"type": "text", "text": body_text, "color": "#999999", "flex": 0},
                    ],
                },
            ],
        },
        "footer": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "button",
                    "style": "primary",
                    "action": {
                        "type": "uri",
                        "label": "カートを見る",
                        "uri": "https://shop.example.jp/cart",
                    },
                },
                {
                    "type": "button",
                    "action": {"type": "postback", "label": "配信停止", "data": "action=optout"},
                },
            ],
        },
    }


def flex(contents: dict[str, Any], alt_text: str = "カートに商品が残っています") -> dict[str, Any]:
    return {"type": "flex", "altText": alt_text, "contents": contents}


def carousel(count: int) -> dict[str, Any]:
    return {"type": "carousel", "contents": [bubble() for _ in range(count)]}


def quick_reply(*actions: dict[str, Any]) -> dict[str, Any]:
    return {"items": [{"type": "action", "action": action} for action in actions]}


def postback(data: str = "action=buy", label: str = "買う") -> dict[str, Any]:
    return {"type": "postback", "label": label, "data": data}


def errors_of(*messages: Any) -> list[tuple[str, str]]:
    return [(d["property"], d["message"]) for d in validate_messages(list(messages))]


# -- the limits named in the brief, each just inside and just outside -------------------------


def test_valid_messages_pass() -> None:
    assert validate_messages([text(), flex(bubble()), flex(carousel(12))]) == []


def test_one_to_five_messages() -> None:
    assert validate_messages([text()] * 5) == []
    assert errors_of(*[text()] * 6) == [("messages", "Size must be between 1 and 5")]
    assert validate_messages([]) == [
        {"message": "Size must be between 1 and 5", "property": "messages"}
    ]


def test_text_length_counts_utf16_code_units() -> None:
    assert validate_messages([text("あ" * 5000)]) == []
    assert errors_of(text("x" * 5001)) == [
        ("messages[0].text", "Length must be between 1 and 5000")
    ]
    # 🍎 is two UTF-16 code units: 2501 apples are 5002 characters for LINE.
    assert errors_of(text("🍎" * 2501)) == [
        ("messages[0].text", "Length must be between 1 and 5000")
    ]
    assert errors_of(text("")) == [("messages[0].text", "May not be empty")]


def test_flex_alt_text_is_1_to_1500_characters() -> None:
    assert validate_messages([flex(bubble(), "あ" * 1500)]) == []
    assert errors_of(flex(bubble(), "あ" * 1501)) == [
        ("messages[0].altText", "Length must be between 1 and 1500")
    ]
    assert errors_of(flex(bubble(), "")) == [("messages[0].altText", "May not be empty")]


def test_carousel_holds_at_most_12_bubbles() -> None:
    assert validate_messages([flex(carousel(12))]) == []
    assert errors_of(flex(carousel(13))) == [
        ("messages[0].contents.contents", "Size must be between 1 and 12")
    ]


def test_bubble_json_size_limit() -> None:
    ok = bubble(title="あ" * 9000)  # 27 KB of kana
    assert json_size(ok) <= BUBBLE_MAX_BYTES and validate_messages([flex(ok)]) == []
    big = bubble(title="あ" * 10_500)
    ((prop, message),) = errors_of(flex(big))
    assert prop == "messages[0].contents"
    assert message.startswith("bubble JSON is") and message.endswith("must be at most 30000")


def test_carousel_json_size_limit_and_oversized_bubble_inside() -> None:
    heavy = {"type": "carousel", "contents": [bubble(title="あ" * 2000) for _ in range(9)]}
    ((prop, message),) = errors_of(flex(heavy))
    assert prop == "messages[0].contents" and "must be at most 50000" in message
    one_big = {"type": "carousel", "contents": [bubble(), bubble(title="あ" * 10_500)]}
    assert [p for p, _ in errors_of(flex(one_big))] == ["messages[0].contents.contents[1]"]


def test_quick_reply_holds_at_most_13_items() -> None:
    thirteen = dict(text(), quickReply=quick_reply(*[postback()] * 13))
    assert validate_messages([thirteen]) == []
    fourteen = dict(text(), quickReply=quick_reply(*[postback()] * 14))
    assert errors_of(fourteen) == [
        ("messages[0].quickReply.items", "Size must be between 1 and 13")
    ]


def test_postback_data_is_at_most_300_characters() -> None:
    assert validate_messages([dict(text(), quickReply=quick_reply(postback("x" * 300)))]) == []
    assert errors_of(dict(text(), quickReply=quick_reply(postback("x" * 301)))) == [
        ("messages[0].quickReply.items[0].action.data", "Length must be between 0 and 300")
    ]


@pytest.mark.parametrize(
    ("where", "limit"),
    [("quickReply", 20), ("template", 20), ("flexButton", 40), ("imageCarousel", 12)],
)
def test_action_label_limits_depend_on_where_the_action_is(where: str, limit: int) -> None:
    def message(label: str) -> dict[str, Any]:
        action = postback(label=label)
        if where == "quickReply":
            return dict(text(), quickReply=quick_reply(action))
        if where == "template":
            return {
                "type": "template",
                "altText": "確認",
                "template": {
                    "type": "confirm",
                    "text": "購入しますか？",
                    "actions": [action, postback()],
                },
            }
        if where == "imageCarousel":
            column = {"imageUrl": "https://shop.example.jp/1.jpg", "action": action}
            return {
                "type": "template",
                "altText": "商品",
                "template": {"type": "image_carousel", "columns": [column]},
            }
        box = {
            "type": "box",
            "layout": "vertical",
            "contents": [{"type": "button", "action": action}],
        }
        return flex({"type": "bubble", "footer": box})

    assert validate_messages([message("あ" * limit)]) == []
    ((prop, detail),) = errors_of(message("あ" * (limit + 1)))
    assert prop.endswith(".label") and detail.endswith(f"and {limit}")


def test_labels_count_grapheme_clusters_not_code_units() -> None:
    family = "👨‍👩‍👧‍👦"  # one grapheme, 11 UTF-16 code units
    assert grapheme_len(family) == 1 and utf16_len(family) == 11
    assert grapheme_len("ｶﾞｷﾞ") == 2 and grapheme_len("🇯🇵🇯🇵") == 2 and grapheme_len("a\r\nb") == 3
    label = family * 20
    assert validate_messages([dict(text(), quickReply=quick_reply(postback(label=label)))]) == []


def test_required_label_missing() -> None:
    action = {"type": "message", "text": "はい"}
    assert errors_of(dict(text(), quickReply=quick_reply(action))) == [
        ("messages[0].quickReply.items[0].action.label", "must be specified")
    ]


@pytest.mark.parametrize(
    "uri",
    ["https://shop.example.jp/cart", "http://shop.example.jp", "line://nv/chat", "tel:0312345678"],
)
def test_uri_action_allowed_schemes(uri: str) -> None:
    action = {"type": "uri", "label": "開く", "uri": uri}
    assert validate_messages([dict(text(), quickReply=quick_reply(action))]) == []


@pytest.mark.parametrize(
    ("uri", "detail"),
    [
        (
            "ftp://shop.example.jp/file",
            "invalid uri scheme: must be one of [http, https, line, tel]",
        ),
        ("javascript:alert(1)", "invalid uri scheme: must be one of [http, https, line, tel]"),
        ("https://shop.example.jp/" + "a" * 1000, "Length must be between 1 and 1000"),
        (
            "https://shop.example.jp/カート",
            "must be percent-encoded (no spaces or non-ASCII characters)",
        ),
        ("https:///no-host", "invalid uri: the host is missing"),
    ],
)
def test_uri_action_rejections(uri: str, detail: str) -> None:
    action = {"type": "uri", "label": "開く", "uri": uri}
    assert errors_of(dict(text(), quickReply=quick_reply(action))) == [
        ("messages[0].quickReply.items[0].action.uri", detail)
    ]


def test_image_urls_must_be_https() -> None:
    image = {
        "type": "image",
        "originalContentUrl": "http://shop.example.jp/a.jpg",
        "previewImageUrl": "https://shop.example.jp/a.jpg",
    }
    assert errors_of(image) == [("messages[0].originalContentUrl", "must be a valid HTTPS URL")]
    hero = bubble()
    hero["hero"]["url"] = "http://shop.example.jp/1.jpg"
    assert errors_of(flex(hero)) == [("messages[0].contents.hero.url", "must be a valid HTTPS URL")]
    icon = dict(
        text(),
        quickReply={
            "items": [
                {"type": "action", "imageUrl": "http://x.example/i.png", "action": postback()}
            ]
        },
    )
    assert errors_of(icon) == [
        ("messages[0].quickReply.items[0].imageUrl", "must be a valid HTTPS URL")
    ]


def test_message_types_sticker_and_template() -> None:
    sticker = {"type": "sticker", "packageId": "446", "stickerId": "1988"}
    buttons = {
        "type": "template",
        "altText": "メニュー",
        "template": {
            "type": "buttons",
            "thumbnailImageUrl": "https://shop.example.jp/1.jpg",
            "title": "メニュー",
            "text": "選んでください",
            "actions": [
                postback(),
                {"type": "uri", "label": "見る", "uri": "https://shop.example.jp"},
            ],
        },
    }
    assert validate_messages([sticker, buttons]) == []
    assert errors_of({"type": "sticker", "packageId": "446"}) == [
        ("messages[0].stickerId", "must be specified")
    ]
    long_text = copy.deepcopy(buttons)
    long_text["template"]["text"] = "あ" * 61  # 60 with an image or title, 160 without
    assert errors_of(long_text) == [
        ("messages[0].template.text", "Length must be between 1 and 60")
    ]
    five = copy.deepcopy(buttons)
    five["template"]["actions"] = [postback()] * 5
    assert errors_of(five) == [("messages[0].template.actions", "Size must be between 1 and 4")]


def test_template_carousel_columns_must_match() -> None:
    column = {"text": "商品A", "actions": [postback(), postback()]}
    uneven = {
        "type": "template",
        "altText": "商品",
        "template": {
            "type": "carousel",
            "columns": [column, {"text": "商品B", "actions": [postback()]}],
        },
    }
    ((prop, _),) = errors_of(uneven)
    assert prop == "messages[0].template.columns"


def test_unknown_fields_are_reported_though_the_sdk_drops_them() -> None:
    typo = bubble()
    typo["body"]["contents"][0]["colour"] = "#ff0000"
    assert errors_of(flex(typo)) == [
        ("messages[0].contents.body.contents[0].colour", "unknown field")
    ]


def test_flex_structure_rules() -> None:
    no_layout = {"type": "bubble", "body": {"type": "box", "contents": []}}
    assert errors_of(flex(no_layout)) == [("messages[0].contents.body.layout", "must be specified")]
    button_in_baseline = {
        "type": "bubble",
        "body": {
            "type": "box",
            "layout": "baseline",
            "contents": [{"type": "button", "action": postback()}],
        },
    }
    assert errors_of(flex(button_in_baseline)) == [
        ("messages[0].contents.body.contents[0].type", "button is not allowed in a baseline box")
    ]
    empty_text = {
        "type": "bubble",
        "body": {"type": "box", "layout": "vertical", "contents": [{"type": "text", "text": ""}]},
    }
    assert errors_of(flex(empty_text)) == [
        ("messages[0].contents.body.contents[0].text", "May not be empty")
    ]
    bad_color = bubble()
    bad_color["body"]["contents"][1]["contents"][1]["color"] = "red"
    assert errors_of(flex(bad_color))[0][0].endswith("contents[1].color")
    tall = bubble()
    tall["hero"]["aspectRatio"] = "1:4"
    assert errors_of(flex(tall)) == [
        (
            "messages[0].contents.hero.aspectRatio",
            "height must not be more than three times the width",
        )
    ]


def test_text_emoji_index_must_point_at_placeholder() -> None:
    good = {
        "type": "text",
        "text": "🍎$ありがとう",
        "emojis": [{"index": 2, "productId": "5ac1bfd5040ab15980c9b435", "emojiId": "001"}],
    }
    assert validate_messages([good]) == []
    bad = copy.deepcopy(good)
    bad["emojis"][0]["index"] = 1
    assert errors_of(bad) == [
        ("messages[0].emojis[0].index", "must point at a '$' placeholder in text")
    ]


def test_datetime_picker() -> None:
    picker = {
        "type": "datetimepicker",
        "label": "日時",
        "data": "action=pick",
        "mode": "date",
        "min": "2026-01-01",
        "max": "2025-01-01",
    }
    assert errors_of(dict(text(), quickReply=quick_reply(picker))) == [
        ("messages[0].quickReply.items[0].action.max", "must be greater than min")
    ]


def test_unknown_message_type_and_non_objects() -> None:
    assert errors_of({"type": "carousel"})[0][0] == "messages[0].type"
    assert errors_of("hello") == [("messages[0]", "must be an object")]
    assert validate_messages("hello") == [{"message": "must be an array", "property": "messages"}]


def test_sdk_shape_check_catches_what_the_walk_lets_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import line_messages.validation as validation

    monkeypatch.setitem(validation._MESSAGE_HANDLERS, "sticker", lambda walker, msg, prop: None)
    validation._sdk_error.cache_clear()
    ((prop, message),) = errors_of({"type": "sticker", "packageId": 446})
    assert prop == "messages[0]" and message.startswith("invalid message object:")


# -- the same limits reach clients as LINE-style 400 answers ----------------------------------


@pytest.mark.parametrize(
    ("messages", "prop"),
    [
        ([text()] * 6, "messages"),
        ([flex(bubble(), "あ" * 1501)], "messages[0].altText"),
        (
            [dict(text(), quickReply=quick_reply(*[postback()] * 14))],
            "messages[0].quickReply.items",
        ),
        (
            [dict(text(), quickReply=quick_reply(postback("x" * 301)))],
            "messages[0].quickReply.items[0].action.data",
        ),
        ([flex(carousel(13))], "messages[0].contents.contents"),
        ([flex(bubble(title="あ" * 10_500))], "messages[0].contents"),
        (
            [
                dict(
                    text(),
                    quickReply=quick_reply({"type": "uri", "label": "x", "uri": "ftp://x.example"}),
                )
            ],
            "messages[0].quickReply.items[0].action.uri",
        ),
    ],
    ids=[
        "6-messages",
        "long-altText",
        "14-quick-replies",
        "301-postback-data",
        "13-bubbles",
        "oversized-bubble",
        "ftp-uri",
    ],
)
def test_push_rejects_invalid_messages_like_line(
    emu: EmulatorServer, api: Api, messages: list[dict[str, Any]], prop: str
) -> None:
    user = emu.add_user()
    response = api.post("/v2/bot/message/push", {"to": user["userId"], "messages": messages})
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "The request body has 1 error(s)"
    assert [detail["property"] for detail in body["details"]] == [prop]
    assert emu.inbox(user["userId"]) == []
    assert emu.requests("/v2/bot/message/push")[0]["status"] == 400
