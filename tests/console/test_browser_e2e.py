"""End to end in a real headless Chromium: webhook → ticket → claim → reply → resolve."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import select

from bot.app import create_app
from bot.core.clock import DevClock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.delivery.jobs import dispatch_due_deliveries
from bot.models import Shopper, SupportTicket, TicketReason
from bot.support.escalation import active_ticket, escalate
from line_emulator import EmulatorServer
from tests.helpers.browser import ARTIFACTS, browser_page, page_problems
from tests.helpers.console import PASSWORD, make_operator
from tests.helpers.delivery import MAMEZARA, MUG, cart_body, order_body
from tests.helpers.shop_api import ShopApi

SHOPPER = "U" + "a" * 32
CART_SHOPPER = "U" + "b" * 32
REMINDER_DELAY_SECONDS = 16 * 60  # the cart reminder is due 15 minutes after the cart news


@pytest.fixture
def e2e_app(settings: Settings, db: Database, redis: Redis, emulator: EmulatorServer) -> Flask:
    """The e2e app (real SDK gateway over HTTP to the emulator) on a clock that can jump
    ahead, and without quiet hours: the cart reminder must go out whatever the hour."""
    return create_app(
        settings.with_changes(line_api_base_url=emulator.base_url, quiet_hours=None),
        redis=redis,
        database=db,
        clock=DevClock(redis),
    )


@pytest.fixture
def page() -> Iterator[Any]:
    with browser_page(1360, 900) as page:
        yield page


class ConsoleE2E(NamedTuple):
    """The bot over HTTP, the LINE emulator, the job runner and a browser page."""

    app: Flask
    bot: Any
    emulator: EmulatorServer
    jobs: Callable[[], None]
    page: Any


@pytest.fixture
def console(
    e2e_app: Flask,
    live_bot: Any,
    emulator: EmulatorServer,
    e2e_jobs: Callable[[], None],
    page: Any,
) -> ConsoleE2E:
    return ConsoleE2E(e2e_app, live_bot, emulator, e2e_jobs, page)


def _ticket_for(app: Flask, user_id: str) -> int:
    """The ticket the shopper's message opened; opened here if FAQ escalation is not wired."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        shopper = session.scalars(select(Shopper).where(Shopper.line_user_id == user_id)).one()
        ticket = active_ticket(session, shopper)
        if ticket is None:
            now = app.extensions["bot"].clock.now()
            ticket, _ = escalate(session, shopper, TicketReason.ASKED_FOR_PERSON, now)
        session.commit()
        return ticket.id


def _texts(emulator: EmulatorServer, user_id: str) -> list[str]:
    found = []
    for entry in emulator.inbox(user_id):
        message = entry.get("message", entry)
        found.append(str(message.get("text") or message.get("altText") or ""))
    return found


def _sign_in(page: Any, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/console/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def _claim_from_queue(page: Any, ticket_id: int, shopper_name: str) -> None:
    row = page.locator(f"tr[data-ticket='{ticket_id}']")
    row.wait_for()
    assert shopper_name in row.inner_text()
    row.get_by_role("button", name="担当する").click()
    page.wait_for_url(f"**/console/tickets/{ticket_id}")


def _answer(page: Any, emulator: EmulatorServer, ticket_id: int, user_id: str, reply: str) -> None:
    """Type a reply in the chat and check that LINE delivered it to the shopper."""
    page.fill("#reply-text", reply)
    page.get_by_role("button", name="LINEで送信").click()
    page.wait_for_url(f"**/console/tickets/{ticket_id}#reply")
    pushes = [r for r in emulator.requests("/v2/bot/message/push") if r["status"] == 200]
    assert any(reply in str(r["body"]) for r in pushes)
    assert reply in _texts(emulator, user_id)


def _resolve(page: Any, app: Flask, emulator: EmulatorServer, ticket_id: int, user_id: str) -> None:
    """Hand the chat back to the bot; the shopper is told and the ticket is resolved."""
    page.get_by_role("button", name="対応を終了してボットに戻す").click()
    page.get_by_text("チャットを終了し、ボットに戻しました。").wait_for()
    assert any("担当者とのやりとりを終了しました" in text for text in _texts(emulator, user_id))
    with app.app_context():
        row = app.extensions["bot"].db.session().get(SupportTicket, ticket_id)
        assert row.state.value == "resolved"


def test_operator_handles_a_chat_in_the_browser(console: ConsoleE2E) -> None:
    e2e_app, live_bot, emulator, e2e_jobs, page = console
    emulator.add_user(SHOPPER, display_name="山田 花子", followed=False)
    emulator.send_follow(SHOPPER)  # the follow handler stores the LINE profile (the name)
    make_operator(e2e_app, "sato@example.jp", "佐藤 美咲")
    emulator.send_text(SHOPPER, "担当者と話したいです。注文番号A-1001の配送について")
    e2e_jobs()
    ticket_id = _ticket_for(e2e_app, SHOPPER)

    _sign_in(page, live_bot.url, "sato@example.jp")
    _claim_from_queue(page, ticket_id, "山田 花子")
    assert "注文番号A-1001" in page.locator("#messages").inner_text()

    reply = "山田様、お問い合わせありがとうございます。配送状況を確認いたします。"
    _answer(page, emulator, ticket_id, SHOPPER, reply)

    # Live update: the shopper writes again and the message appears without a reload.
    emulator.send_text(SHOPPER, "ありがとうございます、お待ちしています")
    e2e_jobs()
    page.locator("#messages").get_by_text("お待ちしています").wait_for(timeout=15_000)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console_chat.png"), full_page=True)

    _resolve(page, e2e_app, emulator, ticket_id, SHOPPER)
    assert page_problems(page) == []  # no CSP violation, no script error, no failed load


def _shop_event(app: Flask, kind: str, user_id: str, body: dict[str, Any]) -> None:
    """The EC site reports an event about a LINE user (not linked to a member)."""
    response = ShopApi(app.test_client()).post(
        "/events",
        {
            "type": kind,
            "event_id": str(uuid.uuid4()),
            "occurred_at": app.extensions["bot"].clock.now().isoformat(),
            "line_user_id": user_id,
            **body,
        },
    )
    assert response.status_code == 202, response.json


def test_operator_sees_the_cart_and_the_order_of_a_shopper_who_asks_for_a_person(
    console: ConsoleE2E,
) -> None:
    e2e_app, live_bot, emulator, e2e_jobs, page = console
    emulator.add_user(CART_SHOPPER, display_name="佐々木 優子", followed=False)
    emulator.send_follow(CART_SHOPPER)
    _shop_event(e2e_app, "order.placed", CART_SHOPPER, order_body("O-3001", "C-OLD", 5500))
    _shop_event(e2e_app, "cart.updated", CART_SHOPPER, cart_body("C-NOW", [MUG, MAMEZARA]))
    reminder = _cart_reminder_goes_out(e2e_app, emulator, e2e_jobs, CART_SHOPPER)
    make_operator(e2e_app, "sato@example.jp", "佐藤 美咲")

    # Through /callback and the worker, as LINE would deliver it: the bot opens the ticket.
    emulator.send_text(CART_SHOPPER, "担当者と話したいです。カートの豆皿について相談があります")
    e2e_jobs()
    with e2e_app.app_context():
        session = e2e_app.extensions["bot"].db.session()
        shopper = session.scalars(select(Shopper).where(Shopper.line_user_id == CART_SHOPPER)).one()
        ticket = active_ticket(session, shopper)
        assert ticket is not None and ticket.reason is TicketReason.ASKED_FOR_PERSON
        ticket_id = ticket.id

    _sign_in(page, live_bot.url, "sato@example.jp")
    _claim_from_queue(page, ticket_id, "佐々木 優子")
    side = page.locator("aside.side").inner_text()
    assert "美濃焼 手描き藍染め マグカップ" in side
    assert "有田焼 豆皿5枚セット(花づくし)" in side
    assert "O-3001" in side
    assert "カートの豆皿について" in page.locator("#messages").inner_text()

    # The reminder the shopper got is drawn as LINE draws it, not as alt text and JSON.
    carousel = page.locator("#messages .fx-carousel")
    assert carousel.count() == 1
    assert carousel.locator(".fx-bubble").count() == len(reminder["contents"]["contents"])
    shown = carousel.inner_text()
    for expected in ("美濃焼 手描き藍染め マグカップ", "¥2,750", "¥4,400", "お買い物かごを見る"):
        assert expected in shown
    assert page.locator("#messages .alt-text", has_text=reminder["altText"]).count() == 1
    # Styles come from the console's own stylesheets: the primary button is LINE green,
    # and the shop's product pictures are placeholders (the console loads nothing else).
    green = carousel.locator(".fx-btn-primary .fx-btn-face").first.evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert green == "rgb(6, 199, 85)"
    assert carousel.locator(".fx-ph").count() >= 2 and carousel.locator("img").count() == 0
    carousel.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#chat").screenshot(path=str(ARTIFACTS / "console_reminder_carousel.png"))

    reply = "佐々木様、豆皿は在庫が残り2点です。本日中のご注文で明日発送いたします。"
    _answer(page, emulator, ticket_id, CART_SHOPPER, reply)
    _resolve(page, e2e_app, emulator, ticket_id, CART_SHOPPER)
    assert page_problems(page) == []  # no CSP violation, no script error, no failed load


def _cart_reminder_goes_out(
    app: Flask, emulator: EmulatorServer, jobs: Callable[[], None], user_id: str
) -> dict[str, Any]:
    """A quarter of an hour later the dispatcher sends the cart reminder carousel."""
    jobs()
    app.extensions["bot"].clock.advance(REMINDER_DELAY_SECONDS)
    app.extensions["bot"].queues.named("dispatch")[0].enqueue(dispatch_due_deliveries)
    jobs()
    flex = [
        entry.get("message", entry)
        for entry in emulator.inbox(user_id)
        if entry.get("message", entry).get("type") == "flex"
    ]
    assert flex, _texts(emulator, user_id)
    assert flex[-1]["contents"]["type"] == "carousel"
    return flex[-1]
