"""In a real headless Chromium: shoppers ask what the FAQ does not answer, an admin finds the
questions grouped under 未解決の質問, adds one to an entry as a variant, tries it in 試す, and
the bot answers the next shopper who asks it that way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from redis import Redis

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from bot.faq import store as faq_store
from bot.faq.handlers import NO_MATCH
from bot.models import OperatorRole
from line_emulator import EmulatorServer
from tests.helpers.browser import ARTIFACTS, browser_page, page_problems
from tests.helpers.console import PASSWORD, make_operator
from tests.helpers.faq import FAQ_FILE

RECEIPT_QUESTIONS = {
    "U" + "1" * 32: "領収書は発行できますか",
    "U" + "2" * 32: "領収書を発行してもらえますか?",
    "U" + "3" * 32: "領収書って出してもらえますか",
}
OTHER_QUESTION = ("U" + "4" * 32, "実店舗はありますか")
LATER_SHOPPER = "U" + "5" * 32
PAYMENT_ANSWER = "クレジットカード"  # part of the test FAQ's payment_methods answer


@pytest.fixture
def faq_app(settings: Settings, db: Database, redis: Redis, emulator: EmulatorServer) -> Flask:
    """The e2e app (real SDK gateway → emulator) with the test FAQ imported."""
    app = create_app(
        settings.with_changes(line_api_base_url=emulator.base_url), redis=redis, database=db
    )
    with app.app_context():
        session = app.extensions["bot"].db.session()
        entries = faq_store.read_faq_file(FAQ_FILE)
        faq_store.import_entries(session, entries, app.extensions["bot"].clock.now())
        session.commit()
    return app


@pytest.fixture
def e2e_app(faq_app: Flask) -> Flask:
    return faq_app  # live_bot and e2e_jobs serve this app


@pytest.fixture
def page() -> Iterator[Any]:
    with browser_page(1360, 1000) as page:
        yield page


def _replies_to(emulator: EmulatorServer, text: str) -> list[str]:
    """The bodies of successful replies whose messages mention `text`."""
    bodies = [
        json.dumps(r["body"], ensure_ascii=False)
        for r in emulator.requests("/v2/bot/message/reply")
        if r["status"] == 200
    ]
    return [b for b in bodies if text in b]


def test_admin_turns_an_unresolved_question_into_a_variant(
    faq_app: Flask, live_bot: Any, emulator: EmulatorServer, e2e_jobs: Any, page: Any
) -> None:
    assert PAYMENT_ANSWER in faq_store.read_faq_file(FAQ_FILE)[4].answer
    for user, question in [*RECEIPT_QUESTIONS.items(), OTHER_QUESTION]:
        emulator.add_user(user, display_name="テスト 客")
        emulator.send_text(user, question)
    e2e_jobs()
    # The bot could not answer: each shopper got the honest 「見つかりませんでした」.
    assert len(_replies_to(emulator, NO_MATCH.splitlines()[0])) == 4
    make_operator(faq_app, "kanri@example.jp", "管理 太郎", OperatorRole.ADMIN)

    page.goto(f"{live_bot.url}/console/login")
    page.fill("input[name=email]", "kanri@example.jp")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.get_by_role("navigation").get_by_role("link", name="FAQ").click()
    page.wait_for_url("**/console/faq")
    page.get_by_role("link", name="未解決の質問").click()
    page.wait_for_url("**/console/faq/unresolved")

    # The three ways of asking for a receipt are one group; the other question stands alone.
    group = page.locator("section.faq-group").filter(has_text="領収書")
    assert group.count() == 1
    assert group.get_attribute("data-count") == "3"
    listed = group.inner_text()
    for question in RECEIPT_QUESTIONS.values():
        assert question in listed
    assert "回答なし 3" in listed
    assert "実店舗はありますか" not in listed
    alone = page.locator("section.faq-group").filter(has_text="実店舗はありますか")
    assert alone.get_attribute("data-count") == "1"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "faq_unresolved.png"), full_page=True)

    group.locator("input[name=text]").fill("領収書は発行できますか")
    group.locator("input[name=faq_id]").fill("payment_methods")
    group.get_by_role("button", name="言い換えに追加").click()
    page.get_by_text("「payment_methods」の言い換えに追加しました").wait_for()
    assert page.locator("section.faq-group").filter(has_text="領収書").count() == 0
    assert page.locator("section.faq-group").filter(has_text="実店舗はありますか").count() == 1

    # 試す: another wording of the same question is now answered from that entry.
    page.get_by_role("link", name="試す").click()
    page.wait_for_url("**/console/faq/try")
    page.fill("#try-text", "領収書を発行してもらえますか?")
    page.get_by_role("button", name="試す").click()
    result = page.locator("#try-result")
    result.wait_for()
    assert "ボットの判断：回答する" in result.inner_text()
    assert result.locator("a.try-entry").inner_text() == "payment_methods"
    assert PAYMENT_ANSWER in result.inner_text()
    assert "payment_methods" in result.locator("table.try-candidates").inner_text()

    # And a shopper who asks now gets the answer, with no restart of anything.
    emulator.add_user(LATER_SHOPPER, display_name="後の 客")
    emulator.send_text(LATER_SHOPPER, "領収書を発行してもらえますか?")
    e2e_jobs()
    assert _replies_to(emulator, PAYMENT_ANSWER)

    page.get_by_role("link", name="項目").click()
    row = page.locator("tr[data-faq='payment_methods']")
    assert row.locator("td").nth(4).inner_text() == "1"  # answered once since the change
    row.get_by_role("link", name="payment_methods").click()
    page.wait_for_url("**/console/faq/entries/payment_methods")
    assert "領収書は発行できますか" in page.locator("textarea[name=variants]").input_value()
    assert "回答 1回" in page.locator(".faq-stats").inner_text()
    assert page_problems(page) == []  # no CSP violation, no script error, no failed load
