"""The rich menu file: the shipped sample is valid, and each mistake names file, menu and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.core.settings import Settings
from bot.richmenu.file_format import RichMenuFileError, load_menu_file
from tests.helpers.richmenu import (
    SAMPLE_FILE,
    button,
    jpeg_header,
    menu,
    png_bytes,
    write_menu_file,
)

KNOWN_ACTIONS = {"link", "unlink", "optout", "optin", "human", "faq_pick"}


def known(action: str) -> bool:
    return action in KNOWN_ACTIONS


@pytest.fixture
def shop_settings() -> Settings:
    return Settings(
        env="test",
        shop_link_url="https://shop.example.jp/line/login",
        public_base_url="https://bot.example.com",
        shop_help_url="https://shop.example.jp/help",
    )


def load(path: Path, settings: Settings) -> Any:
    return load_menu_file(path, settings, known)


def test_sample_file_is_valid_with_both_audiences(shop_settings: Settings) -> None:
    menus = load(SAMPLE_FILE, shop_settings)
    guest, member = menus.for_audience("unlinked"), menus.for_audience("linked")
    assert guest is not None and member is not None
    assert menus.default is guest
    assert (guest.alias_id, member.alias_id) == ("guest", "member")
    labels = [a["action"]["label"] for a in guest.request["areas"]]
    assert "会員連携" in labels
    assert [a["action"]["label"] for a in member.request["areas"]] == [
        "カートを見る",
        "注文履歴",
        "よくある質問",
        "担当者と話す",
    ]
    uris = {a["action"].get("uri") for a in member.request["areas"]}
    assert {"https://shop.example.jp/cart", "https://shop.example.jp/help"} <= uris
    assert guest.content_type == "image/png" and guest.image.startswith(b"\x89PNG")


def test_sample_postbacks_are_actions_the_bot_routes(app: Any) -> None:
    from bot.richmenu.cli import read_menu_file

    services = app.extensions["bot"]
    menus = read_menu_file(services, SAMPLE_FILE)  # raises if an action is unknown
    data = {a["action"].get("data") for m in menus.menus for a in m.request["areas"]}
    assert {"action=link", "action=human"} <= data


def test_digest_changes_with_the_image(tmp_path: Path, shop_settings: Settings) -> None:
    path = write_menu_file(tmp_path, {"a": menu()})
    before = load(path, shop_settings).menus[0].digest
    assert load(path, shop_settings).menus[0].digest == before
    (tmp_path / "m.png").write_bytes(png_bytes(2500, 843, padding=10))
    assert load(path, shop_settings).menus[0].digest != before


CASES = [
    ({"colour": "red"}, "colour", "unknown key"),
    (
        {"chatBarText": "メニューを開いてご利用ください"},
        "chatBarText",
        "Length must be between 1 and 14",
    ),
    (
        {
            "areas": [
                button(i * 100, 100, {"type": "postback", "data": "action=link"}) for i in range(21)
            ]
        },
        "areas",
        "Size must be between 0 and 20",
    ),
    (
        {"areas": [button(2000, 600, {"type": "postback", "data": "action=link"})]},
        "areas[0].bounds",
        "exceeds the rich menu's width",
    ),
    ({"size": {"width": 2500, "height": 2000}}, "size", "aspect ratio"),
    ({"size": {"width": 3000, "height": 843}}, "size.width", "between 800 and 2500"),
    (
        {"areas": [button(0, 2500, {"type": "postback", "data": "action=buy_now"})]},
        "areas[0].action",
        "no postback action 'buy_now'",
    ),
    (
        {"areas": [button(0, 2500, {"type": "uri", "uri": "https://evil.example.net/"})]},
        "areas[0].action",
        "not on the allowed link hosts",
    ),
    (
        {
            "areas": [
                button(0, 2500, {"type": "richmenuswitch", "richMenuAliasId": "x", "data": "d"})
            ]
        },
        "areas[0].action",
        "no menu of this file has the alias 'x'",
    ),
    ({"alias": "Guest Menu"}, "alias", "1-32 characters"),
    ({"selected": "yes"}, "selected", "must be a boolean"),
    ({"audience": "vip"}, "audience", "must be one of linked, unlinked"),
    ({"image": "missing.png"}, "image", "cannot read missing.png"),
]


@pytest.mark.parametrize(("changes", "key", "message"), CASES, ids=[c[1] for c in CASES])
def test_mistakes_name_file_menu_and_key(
    tmp_path: Path, shop_settings: Settings, changes: dict[str, Any], key: str, message: str
) -> None:
    path = write_menu_file(tmp_path, {"shop_top": menu(**changes)})
    with pytest.raises(RichMenuFileError) as caught:
        load(path, shop_settings)
    assert f"{path}: menu 'shop_top': {key}: " in str(caught.value)
    assert message in str(caught.value)


def test_image_must_match_the_menu_size_and_type(tmp_path: Path, shop_settings: Settings) -> None:
    (tmp_path / "small.png").write_bytes(png_bytes(1200, 405))
    (tmp_path / "photo.jpg").write_bytes(jpeg_header(2500, 1686))
    (tmp_path / "note.txt").write_text("not an image")
    path = write_menu_file(
        tmp_path,
        {
            "a": menu(image="small.png"),
            "b": menu(image="photo.jpg"),
            "c": menu(image="note.txt"),
            "d": menu(image="photo.jpg", size={"width": 2500, "height": 1686}),
        },
    )
    with pytest.raises(RichMenuFileError) as caught:
        load(path, shop_settings)
    text = str(caught.value)
    assert "menu 'a': image: small.png: the image is 1200x405 but the rich menu is 2500x843" in text
    assert "menu 'b': image: photo.jpg: the image is 2500x1686" in text
    assert "menu 'c': image: note.txt is not a JPEG or PNG file" in text
    assert "menu 'd'" not in text  # a JPEG of the right size is fine


def test_too_large_image_is_refused(tmp_path: Path, shop_settings: Settings) -> None:
    (tmp_path / "big.png").write_bytes(png_bytes(2500, 843, padding=1024 * 1024))
    path = write_menu_file(tmp_path, {"a": menu(image="big.png")})
    with pytest.raises(
        RichMenuFileError, match=r"menu 'a': image: big.png: the image is \d+ bytes"
    ):
        load(path, shop_settings)


def test_one_menu_per_audience_and_one_default(tmp_path: Path, shop_settings: Settings) -> None:
    path = write_menu_file(
        tmp_path,
        {
            "a": menu(audience="linked", default=True),
            "b": menu(audience="linked", default=True),
        },
    )
    with pytest.raises(RichMenuFileError) as caught:
        load(path, shop_settings)
    assert "menus a, b: audience: only one menu can be for linked" in str(caught.value)
    assert "menus a, b: default: only one menu can be the default" in str(caught.value)


def test_not_a_menu_file(tmp_path: Path, shop_settings: Settings) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(RichMenuFileError, match=f"{path}: the file must be a mapping"):
        load(path, shop_settings)
