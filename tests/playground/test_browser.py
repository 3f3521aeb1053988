"""A newcomer drives the playground in a real headless Chromium, from a new shopper to the
thanks message, and sees the cart reminder carousel rendered as LINE draws it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers.browser import ARTIFACTS, browser_page, page_problems
from tests.helpers.live_server import LiveServer


@pytest.fixture
def page() -> Iterator[Any]:
    with browser_page(1360, 1000) as page:
        yield page


def _settle(page: Any, jobs: Callable[[], None], ready: Callable[[], bool], what: str) -> None:
    """Run the workers' jobs (dev mode's worker processes) until the page shows `what`."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        jobs()
        if ready():
            return
        page.wait_for_timeout(300)
    raise AssertionError(f"the page never showed {what}")


def test_a_newcomer_tries_the_cart_reminder_in_the_playground(
    page: Any, pg_live: LiveServer, pg_jobs: Callable[[], None]
) -> None:
    page.goto(f"{pg_live.url}/dev/playground/")
    chat = page.locator("#chat")

    # A new shopper adds the account as a friend and gets the greeting.
    page.locator("#new-shopper summary").click()
    page.fill("#new-name", "山田 花子")
    page.click("#create-shopper")
    page.locator("#shopper option", has_text="山田 花子").wait_for(state="attached")
    _settle(page, pg_jobs, lambda: chat.locator(".fx-msg").count() > 0, "the greeting")
    assert "友だち追加しました" in chat.inner_text()

    # The shop links the member and the shopper puts a mug in the cart.
    page.click("#link")
    page.locator("#member", has_text="M0001").wait_for()
    pg_jobs()  # the bot's link notice goes out before the cart news
    page.locator("tr[data-sku='MUG-AI'] button.add").click()
    page.locator("#cart", has_text="マグカップ × 1").wait_for()
    page.locator("#timeline tr[data-step='reminder'][data-state='pending']").wait_for()

    # Fifteen minutes later the reminder carousel arrives, rendered as LINE draws it.
    page.get_by_role("button", name="+15分").click()
    page.locator("#offset", has_text="15分").wait_for()
    carousel = chat.locator(".fx-carousel").last
    _settle(page, pg_jobs, lambda: carousel.count() > 0, "the reminder carousel")
    carousel.wait_for()
    assert carousel.locator(".fx-bubble").count() == 2  # the summary and the mug
    assert "お買い物かごを見る" in carousel.inner_text()
    assert carousel.locator("img.fx-img").count() == 1  # the catalogue's picture, local
    # Styles come from the stylesheets only: the primary button is LINE green.
    green = carousel.locator(".fx-btn-primary .fx-btn-face").first.evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert green == "rgb(6, 199, 85)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    carousel.screenshot(path=str(ARTIFACTS / "playground_reminder_carousel.png"))

    # A URI button shows where it leads instead of opening it.
    carousel.get_by_role("link", name="お買い物かごを見る").click()
    # A tracked link: the playground follows the bot's redirect one hop to show its target.
    page.locator("#where", has_text="転送先").wait_for()
    assert "→ 転送先: https://shop.example.jp/cart" in page.locator("#where").inner_text()

    # The last message's quick replies are shown under it, as in LINE.
    assert page.locator("#quick button", has_text="配信停止").count() == 1
    # A postback button goes back to the bot as a webhook: 配信停止 is answered.
    replies_before = chat.locator(".fx-msg").count()
    carousel.get_by_role("button", name="配信停止").click()
    _settle(page, pg_jobs, lambda: chat.locator(".fx-msg").count() > replies_before, "the answer")
    assert chat.locator(".mine", has_text="配信停止").count() == 1

    # The order is placed: thanks arrives and the later reminder steps are cancelled.
    page.locator("tr[data-sku='GYOKURO-100'] button.add").click()
    page.locator("#cart", has_text="玉露").wait_for()
    page.click("#order")
    page.locator("#order-state", has_text="注文済み").wait_for()
    _settle(
        page,
        pg_jobs,
        lambda: "ご注文ありがとう" in chat.inner_text() or "ご注文" in _last_message(chat),
        "the thanks message",
    )
    page.locator("#timeline tr[data-step='thanks'][data-state='sent']").wait_for()
    for step in ("incentive", "low_stock"):
        page.locator(f"#timeline tr[data-step='{step}'][data-state='cancelled']").first.wait_for()

    # LINE's account-link flow: the shopper sends 会員連携 and gets the shop's login link,
    # logs in there as another member, and LINE tells the bot, which confirms the switch.
    page.fill("#member-id", "M0002")
    page.click("#link-start")
    _settle(page, pg_jobs, lambda: "linkToken=" in (chat.inner_html() or ""), "the login link")
    page.click("#link-login")
    page.locator("#log li", has_text="accountLink イベントが送られました").wait_for()
    linked = chat.locator(".sys", has_text="LINEでアカウント連携しました")
    _settle(page, pg_jobs, lambda: "****002" in _last_message(chat), "the bot's confirmation")
    assert linked.count() == 1 and "切り替えました" in _last_message(chat)  # from M0001
    page.locator("#member", has_text="M0002").wait_for()
    assert page_problems(page) == []  # no CSP violation, no script error, no failed load


def _last_message(chat: Any) -> str:
    messages = chat.locator(".fx-msg")
    return messages.nth(messages.count() - 1).inner_text() if messages.count() else ""
