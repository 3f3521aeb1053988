"""Staff replies carry LINE's `sender`: the shopper sees which person is answering."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core.settings import ConfigError, Settings
from bot.support.actions import staff_sender
from tests.helpers.console import login, make_operator, post

ICON = "https://shop.example.jp/staff/icon.png"
REPLY_TOKEN = "6f9b8c2e-7a1d-4e3f-9b2a-1c0d5e4f3a2b"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, staff_icon_url=ICON)


def test_staff_reply_shows_the_operators_name_and_the_staff_icon(app, line, ticket_id):
    make_operator(app, "tanaka@example.jp", "田中 一郎")
    client = app.test_client()
    login(client, "tanaka@example.jp")
    post(client, f"/console/tickets/{ticket_id}/claim")
    response = post(
        client,
        f"/console/tickets/{ticket_id}/reply",
        text="確認いたします。",
        reply_token=REPLY_TOKEN,
    )
    assert response.status_code == 303
    assert line.sent("push")[-1]["messages"] == [
        {
            "type": "text",
            "text": "確認いたします。",
            "sender": {"name": "田中 一郎", "iconUrl": ICON},
        }
    ]


def test_a_long_name_is_cut_to_lines_limit():
    assert staff_sender("カスタマーサポート担当 山田 花子 (東京センター)", None) == {
        "name": "カスタマーサポート担当 山田 花子 (東"
    }


def test_a_name_with_the_word_line_is_left_out_but_the_icon_stays():
    assert staff_sender("LINE担当 佐藤", ICON) == {"iconUrl": ICON}
    assert staff_sender("  ", None) == {}


@pytest.mark.parametrize(
    "url", ["http://shop.example.jp/icon.png", "https://shop.example.jp/" + "a" * 2000, "icon.png"]
)
def test_staff_icon_url_must_be_https_and_short_enough(url):
    with pytest.raises(ConfigError, match="STAFF_ICON_URL"):
        Settings.from_env({"APP_ENV": "development", "STAFF_ICON_URL": url})


def test_staff_icon_url_is_read_from_the_environment():
    assert (
        Settings.from_env({"APP_ENV": "development", "STAFF_ICON_URL": ICON}).staff_icon_url == ICON
    )
