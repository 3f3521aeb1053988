"""The 配信レポート page in headless Chromium: drawn under the console's strict CSP, with a
screenshot kept as an artifact."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.line.gateway import MessageQuota
from tests.helpers.browser import ARTIFACTS, browser_page, page_problems
from tests.helpers.console import PASSWORD, make_operator
from tests.helpers.live_server import LiveServer
from tests.helpers.report import HIDDEN_TEXT_ROW, write_clear_winner, write_history


@pytest.fixture
def page() -> Iterator[Any]:
    with browser_page(1400, 1000) as page:
        yield page


def test_report_page_in_the_browser(app, line, page):
    line.quota = MessageQuota(limit=15000, used=9120)
    make_operator(app, "sato@example.jp", "佐藤")
    with app.app_context():
        session = app.extensions["bot"].db.session()
        write_history(session)
        write_clear_winner(session)
    server = LiveServer(app)
    try:
        page.goto(f"{server.url}/console/login")
        page.fill("input[name=email]", "sato@example.jp")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/console/queue*")
        page.get_by_role("link", name="配信レポート").click()
        page.wait_for_url("**/console/report")
        page.fill("input[name=from]", "2025-07-01")
        page.fill("input[name=to]", "2025-07-30")
        page.get_by_role("button", name="表示").click()
        page.wait_for_url("**/console/report?from=2025-07-01&to=2025-07-30")
        page.locator("#scenario-cart").wait_for()
        assert page.locator("#scenario-cart svg.chart").count() == 3
        hidden = page.locator(HIDDEN_TEXT_ROW)
        assert "20人未満のため非表示" in hidden.inner_text()
        assert "勝ちパターン：B" in page.locator("#ab-cart-s2").inner_text()
        page.locator("details.funnels summary").first.click()
        assert page.locator("svg.funnel").first.is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "delivery_report.png"), full_page=True)
        assert page_problems(page) == []  # no CSP violation, no script error, no failed load
    finally:
        server.stop()
