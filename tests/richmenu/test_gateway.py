"""The SDK gateway's rich menu calls: images go to LINE's data host, the rest to the API host."""

from __future__ import annotations

import socket

import pytest

from bot.core.settings import ConfigError, Settings
from bot.line.gateway import LineClientError, LineUnavailable, SdkLineGateway
from line_emulator.server import EmulatorServer
from tests.helpers.line import TEST_TOKEN
from tests.helpers.richmenu import png_bytes

MENU = {
    "size": {"width": 2500, "height": 843},
    "selected": False,
    "name": "guest",
    "chatBarText": "メニュー",
    "areas": [
        {
            "bounds": {"x": 0, "y": 0, "width": 2500, "height": 843},
            "action": {"type": "postback", "data": "action=link"},
        }
    ],
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_data_host_defaults() -> None:
    dev = {"APP_ENV": "development"}
    assert Settings.from_env(dev).line_data_url == "https://api-data.line.me"
    emulated = Settings.from_env(dev | {"LINE_API_BASE_URL": "http://127.0.0.1:8081"})
    assert emulated.line_data_url == "http://127.0.0.1:8081"
    own = Settings.from_env(dev | {"LINE_API_DATA_BASE_URL": "https://data.example.jp/"})
    assert own.line_data_url == "https://data.example.jp"
    with pytest.raises(ConfigError, match="LINE_API_DATA_BASE_URL must be an http"):
        Settings.from_env(dev | {"LINE_API_DATA_BASE_URL": "ftp://x"})


def test_image_upload_uses_the_data_host(emulator: EmulatorServer) -> None:
    elsewhere = f"http://127.0.0.1:{closed_port()}"
    gateway = SdkLineGateway(TEST_TOKEN, emulator.base_url, data_base_url=elsewhere)
    try:
        rich_menu_id = gateway.create_rich_menu(MENU)  # the API host answers
        with pytest.raises(LineUnavailable):
            gateway.upload_rich_menu_image(rich_menu_id, png_bytes(2500, 843), "image/png")
    finally:
        gateway.close()
    assert [r["path"] for r in emulator.requests()] == ["/v2/bot/richmenu"]


def test_sdk_gateway_round_trip(emulator: EmulatorServer) -> None:
    gateway = SdkLineGateway(TEST_TOKEN, emulator.base_url, data_base_url=emulator.base_url)
    user = "U" + "3" * 32
    try:
        gateway.validate_rich_menu(MENU)
        rich_menu_id = gateway.create_rich_menu(MENU)
        gateway.upload_rich_menu_image(rich_menu_id, png_bytes(2500, 843), "image/png")
        assert [m["richMenuId"] for m in gateway.list_rich_menus()] == [rich_menu_id]
        assert gateway.default_rich_menu() is None
        gateway.set_default_rich_menu(rich_menu_id)
        assert gateway.default_rich_menu() == rich_menu_id
        gateway.set_rich_menu_alias("guest", rich_menu_id, exists=False)
        gateway.set_rich_menu_alias("guest", rich_menu_id, exists=True)
        assert gateway.rich_menu_aliases() == {"guest": rich_menu_id}
        gateway.link_rich_menu(user, rich_menu_id)
        gateway.link_rich_menu_to_users(rich_menu_id, ["U" + "4" * 32])
        assert emulator.rich_menu_state()["users"] == {
            user: rich_menu_id,
            "U" + "4" * 32: rich_menu_id,
        }
        gateway.unlink_rich_menu(user)
        gateway.delete_rich_menu_alias("guest")
        gateway.delete_rich_menu(rich_menu_id)
        with pytest.raises(LineClientError) as refused:
            gateway.create_rich_menu(MENU | {"chatBarText": "x" * 15})
        assert refused.value.status == 400
        assert refused.value.details[0]["property"] == "chatBarText"
    finally:
        gateway.close()
    assert emulator.rich_menu_state() == {
        "richmenus": [],
        "default": None,
        "aliases": {},
        "users": {},  # deleting the menu dropped the bulk-linked user's link too
    }
