"""The resolved tab: search by shopper, newest-first keyset pages, escaping, sign-in."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from bot.models import SupportTicket
from bot.support.actions import resolve_ticket
from bot.support.queue import PageKey
from tests.helpers.console import NOW, open_ticket

YAMADA = "U" + "a1" * 16
TANAKA = "U" + "b2" * 16
SUZUKI = "U" + "c3" * 16
ROW = re.compile(r'<tr data-ticket="(\d+)"')


def resolved_chat(
    app: Flask,
    line_user_id: str,
    name: str,
    resolved_at: datetime,
    member_id: str | None = None,
) -> int:
    """An escalated chat of the shopper, closed at `resolved_at`; the ticket id."""
    ident = open_ticket(
        app,
        "返品の手続きについて教えてください",
        line_user_id,
        now=resolved_at - timedelta(hours=1),
    )
    with app.app_context():
        session = app.extensions["bot"].db.session()
        ticket = session.get(SupportTicket, ident)
        ticket.shopper.display_name = name
        ticket.shopper.member_id = member_id
        resolve_ticket(session, ticket, None, resolved_at)
        session.commit()
    return ident


def row_ids(page: str) -> list[int]:
    return [int(ident) for ident in ROW.findall(page)]


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', page)
    return html.unescape(found[1]) if found else None


def resolved(client: FlaskClient, search: str) -> list[int]:
    response = client.get("/console/queue", query_string={"tab": "resolved", "q": search})
    assert response.status_code == 200
    return row_ids(response.text)


def three_shoppers(app: Flask) -> tuple[int, int, int]:
    yamada = resolved_chat(app, YAMADA, "山田 花子", NOW - timedelta(days=3), "M-1001")
    tanaka = resolved_chat(app, TANAKA, "田中 太郎", NOW - timedelta(days=2), "M-2002")
    suzuki = resolved_chat(app, SUZUKI, "Hanako Suzuki", NOW - timedelta(days=1), "K-3003")
    return yamada, tanaka, suzuki


def test_search_by_name_fragment(app: Flask, as_operator: FlaskClient) -> None:
    yamada, tanaka, suzuki = three_shoppers(app)
    assert resolved(as_operator, "花子") == [yamada]
    assert resolved(as_operator, "田") == [tanaka, yamada]  # newest first
    assert resolved(as_operator, " 田中 ") == [tanaka]
    # Words in any order, separated by a full-width space as a Japanese IME types it.
    assert resolved(as_operator, "花子\u3000山田") == [yamada]
    assert resolved(as_operator, "hanako") == [suzuki]  # case does not matter
    assert resolved(as_operator, "山田 太郎") == []
    page = as_operator.get("/console/queue?tab=resolved&q=花子").text
    assert "山田 花子" in page and "田中 太郎" not in page
    assert 'value="花子"' in page  # the search stays in the box


def test_search_by_member_id(app: Flask, as_operator: FlaskClient) -> None:
    yamada, tanaka, _ = three_shoppers(app)
    assert resolved(as_operator, "M-1001") == [yamada]
    assert resolved(as_operator, "M-10") == [yamada]  # prefix
    assert resolved(as_operator, "M-") == [tanaka, yamada]
    assert resolved(as_operator, "1001") == []  # not a prefix, and not in a name
    assert resolved(as_operator, "M_1001") == []  # LIKE wildcards are taken literally
    assert resolved(as_operator, "%") == []


def test_search_by_line_user_id(app: Flask, as_operator: FlaskClient) -> None:
    _, tanaka, _ = three_shoppers(app)
    assert resolved(as_operator, TANAKA) == [tanaka]
    assert resolved(as_operator, TANAKA[:12]) == []  # the LINE user id must be exact


def test_search_shows_only_resolved_chats(app: Flask, as_operator: FlaskClient) -> None:
    old = resolved_chat(app, YAMADA, "山田 花子", NOW - timedelta(days=5))
    still_open = open_ticket(app, "また質問です", YAMADA)
    assert resolved(as_operator, "山田") == [old]
    waiting = as_operator.get("/console/api/queue?tab=waiting").get_json()
    assert [row["id"] for row in waiting["rows"]] == [still_open]
    assert 'role="search"' not in as_operator.get("/console/queue?tab=waiting").text


def test_no_match_is_a_friendly_message(app: Flask, as_operator: FlaskClient) -> None:
    page = as_operator.get("/console/queue?tab=resolved").text
    assert "終了したチャットはまだありません。" in page
    three_shoppers(app)
    page = as_operator.get("/console/queue?tab=resolved&q=佐藤").text
    assert row_ids(page) == []
    assert "「佐藤」に一致する終了済みのチャットは見つかりませんでした。" in page
    assert 'rel="next"' not in page and 'rel="prev"' not in page
    data = as_operator.get("/console/api/queue?tab=resolved&q=佐藤").get_json()
    assert data["rows"] == [] and data["empty"].startswith("「佐藤」に一致する")


def test_pages_of_50_newest_first_each_ticket_once(app: Flask, as_operator: FlaskClient) -> None:
    shoppers = [(YAMADA, "山田 花子", "M-1001"), (TANAKA, "田中 太郎", "M-2002")]
    made = []
    for i in range(120):
        # Three chats share each minute, so equal resolved_at values straddle a page break.
        when = NOW - timedelta(minutes=i // 3)
        line_user_id, name, member_id = shoppers[i % 2]
        made.append((when, resolved_chat(app, line_user_id, name, when, member_id)))
    newest_first = [ident for _, ident in sorted(made, reverse=True)]

    url: str | None = "/console/queue?tab=resolved"
    pages: list[list[int]] = []
    while url is not None:
        page = as_operator.get(url)
        assert page.status_code == 200
        pages.append(row_ids(page.text))
        assert "新しい順" in page.text
        assert ('rel="prev"' in page.text) == (len(pages) > 1)
        url = link(page.text, "next")
        if len(pages) == 2:
            # A chat resolved meanwhile goes to the top; the later pages do not shift.
            resolved_chat(app, SUZUKI, "鈴木 一郎", NOW + timedelta(minutes=5))
    assert [len(ids) for ids in pages] == [50, 50, 20]
    assert [ident for ids in pages for ident in ids] == newest_first

    # 「前へ」 from the last page leads back through the same pages.
    back = as_operator.get(f"/console/queue?tab=resolved&older={_key(app, newest_first[99])}")
    assert row_ids(back.text) == newest_first[100:]
    previous = as_operator.get(link(back.text, "prev") or "")
    assert row_ids(previous.text) == newest_first[50:100]
    assert "最新の一覧に戻る" in back.text

    # Past the oldest ticket (a stale link): a message and the way back, not an error.
    beyond = as_operator.get(f"/console/queue?tab=resolved&older={_key(app, newest_first[-1])}")
    assert beyond.status_code == 200 and row_ids(beyond.text) == []
    assert "このページに表示できるチャットはありません。" in beyond.text
    assert 'href="/console/queue?tab=resolved">最新の一覧に戻る' in beyond.text


def test_search_keeps_its_pages_and_the_poll_follows(app: Flask, as_operator: FlaskClient) -> None:
    names = {}
    for i in range(80):  # made newest first: the dict's order is the expected order
        name, line_user_id = ("田中 太郎", TANAKA) if i % 4 == 0 else ("山田 花子", YAMADA)
        names[resolved_chat(app, line_user_id, name, NOW - timedelta(minutes=i))] = name
    yamada = [ident for ident, name in names.items() if name == "山田 花子"]
    tanaka = [ident for ident, name in names.items() if name == "田中 太郎"]

    first = as_operator.get("/console/queue?tab=resolved&q=山田").text
    assert row_ids(first) == yamada[:50]
    second_url = link(first, "next")
    assert second_url is not None and "q=%E5%B1%B1%E7%94%B0" in second_url
    second = as_operator.get(second_url).text
    assert row_ids(second) == yamada[50:]
    assert link(second, "next") is None
    assert link(second, "prev") is not None
    assert resolved(as_operator, "田中") == tanaka

    # The live refresh asks for the same search and page, so it does not swap the rows.
    poll = re.search(r'data-poll="([^"]+)"', second)
    assert poll is not None
    data = as_operator.get(html.unescape(poll[1])).get_json()
    assert [row["id"] for row in data["rows"]] == yamada[50:]


def test_script_in_a_name_is_shown_as_text(app: Flask, as_operator: FlaskClient) -> None:
    attack = "<script>alert('花子')</script>"
    resolved_chat(app, YAMADA, attack, NOW - timedelta(days=1))
    for search in ("", "<script>"):
        page = as_operator.get("/console/queue", query_string={"tab": "resolved", "q": search})
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(&#39;花子&#39;)&lt;/script&gt;" in page.text
    query = {"tab": "resolved", "q": '<b>"x'}
    page = as_operator.get("/console/queue", query_string=query).text
    assert "<b>" not in page
    assert 'value="&lt;b&gt;&#34;x"' in page
    assert "「&lt;b&gt;&#34;x」に一致する" in page


def test_bad_page_or_search_is_a_400_in_japanese(as_operator: FlaskClient) -> None:
    for query in ("older=abc", "newer=1.2.3", "older=1.2&newer=3.4", "older=" + "9" * 18 + ".1"):
        response = as_operator.get(f"/console/queue?tab=resolved&{query}")
        assert response.status_code == 400, query
        assert "ページの指定が正しくありません。" in response.text
    response = as_operator.get("/console/queue?tab=resolved&q=" + "あ" * 201)
    assert response.status_code == 400
    assert "検索語は200文字以内で入力してください。" in response.text


def test_signed_out_visitor_is_sent_to_login(app: Flask, client: FlaskClient) -> None:
    resolved_chat(app, YAMADA, "山田 花子", NOW - timedelta(days=1))
    response = client.get("/console/queue?tab=resolved&q=山田")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login")
    assert client.get("/console/api/queue?tab=resolved&q=山田").status_code == 401


def _key(app: Flask, ident: int) -> str:
    with app.app_context():
        ticket = app.extensions["bot"].db.session().get(SupportTicket, ident)
        return PageKey.of(ticket).token()
