"""Dev mode's stand-in shop login page completes the account-link flow through the emulator."""

from __future__ import annotations

import re

import requests
from rq import SimpleWorker
from sqlalchemy import select

from bot.app import create_app
from bot.models import Shopper
from tests.helpers.live_server import LiveServer


def test_dev_login_page_links_the_member(settings, db, redis, emulator):
    app = create_app(
        settings.with_changes(env="development", line_api_base_url=emulator.base_url),
        redis=redis,
        database=db,
    )
    server = LiveServer(app)
    emulator.webhook_url = f"{server.url}/callback"
    try:
        bot = server.url
        user = emulator.add_user(display_name="高橋 由美")["userId"]

        def run_jobs() -> None:
            app.extensions["bot"].event_writer.drain()
            with app.app_context():
                queues = app.extensions["bot"].queues.all()
                SimpleWorker(queues, connection=redis).work(burst=True, logging_level="WARNING")

        emulator.send_text(user, "会員連携")
        run_jobs()
        reply = str(emulator.inbox(user)[-1]["message"])
        link_token = re.search(r"linkToken=([A-Za-z0-9_\-]+)", reply)
        assert link_token, reply

        page = requests.get(f"{bot}/dev/shop-login", params={"linkToken": link_token[1]}, timeout=5)
        assert page.status_code == 200 and "会員番号" in page.text
        login = requests.post(
            f"{bot}/dev/shop-login",
            data={"linkToken": link_token[1], "member_id": "M0001"},
            allow_redirects=False,
            timeout=5,
        )
        assert login.status_code == 303
        assert login.headers["Location"].startswith(f"{emulator.base_url}/dialog/bot/accountLink?")
        assert requests.get(login.headers["Location"], timeout=5).ok  # LINE sends accountLink
        run_jobs()
        with app.app_context():
            shopper = (
                db.session().scalars(select(Shopper).where(Shopper.line_user_id == user)).one()
            )
        assert shopper.member_id == "M0001"
    finally:
        server.stop()


def test_dev_login_page_exists_only_in_development(client):
    assert client.get("/dev/shop-login").status_code == 404
