"""The whole account-link flow over real HTTP: emulator ⇄ bot ⇄ shop."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from bot.core.db import Database
from bot.models import Shopper
from line_emulator import EmulatorServer
from tests.helpers.live_server import LiveServer
from tests.helpers.shop_api import ShopApi

USER = "U" + "a1" * 16


def test_account_link_end_to_end(
    emulator: EmulatorServer,
    live_bot: LiveServer,
    e2e_app: Flask,
    e2e_jobs: Callable[[], None],
    db: Database,
) -> None:
    emulator.add_user(USER, display_name="佐藤 美咲")
    assert emulator.send_text(USER, "会員連携").ok
    e2e_jobs()

    inbox = json.dumps(emulator.inbox(USER), ensure_ascii=False)
    match = re.search(r"https://shop\.example\.jp/line/login\?linkToken=([A-Za-z0-9_-]+)", inbox)
    assert match, inbox
    token = match[1]
    [issued] = [entry for entry in emulator.link_tokens() if entry["linkToken"] == token]
    assert issued["userId"] == USER

    # The shop's login page, after the shopper logs in as member M000777:
    shop = ShopApi(e2e_app.test_client())
    response = shop.post("/link-nonces", {"member_id": "M000777", "link_token": token})
    assert response.status_code == 201, response.json

    # The shopper's browser follows redirect_url to LINE, which reports the result.
    assert emulator.link_account(token, response.json["nonce"]).ok
    e2e_jobs()
    assert emulator.link_tokens()[0]["nonce"] == response.json["nonce"]

    session = db.session()
    session.expire_all()
    linked = session.scalars(select(Shopper).where(Shopper.line_user_id == USER)).one()
    assert linked.member_id == "M000777"
    last = emulator.inbox(USER)[-1]
    assert "会員番号 ****777" in json.dumps(last, ensure_ascii=False)
    assert shop.get("/members/M000777").json["linked"] is True
