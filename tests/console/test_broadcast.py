"""Console 一斉配信: compose, preview with audience and quota, send now or schedule, cancel;
who may do what, CSRF, and tampered or oversized forms."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from bot.delivery.aggregation import broadcast_unit
from bot.line.gateway import InMemoryLineGateway, LineServerError, MessageQuota
from bot.models import Broadcast
from tests.helpers.broadcast import (
    NOON,
    SALE_ALT,
    SALE_BUBBLE,
    add_shoppers,
    broadcast_row,
    make_broadcast,
    run_sender,
    set_attributes,
    store_insight,
    store_period,
)
from tests.helpers.console import csrf, post

NEW = "/console/broadcasts/new"
PREVIEW = "/console/broadcasts/preview"
CREATE = "/console/broadcasts"


@pytest.fixture(autouse=True)
def frozen():
    with freeze_time(NOON) as clock:
        yield clock


def flex_form(**changes: str) -> dict[str, str]:
    form = {
        "title": "夏のセール",
        "source": "flex",
        "flex_json": json.dumps(SALE_BUBBLE, ensure_ascii=False),
        "alt_text": SALE_ALT,
        "segment": "",
        "when": "now",
        "send_at": "",
        "create_key": "form-key-0123456789",
    }
    form.update(changes)
    return form


def broadcasts_stored(app) -> int:
    with app.app_context():
        return app.extensions["bot"].db.session().scalar(select(func.count(Broadcast.id)))


def test_admin_previews_the_message_with_audience_and_quota(app, as_admin, line):
    add_shoppers(app, 7)
    add_shoppers(app, 2, start=20, opted_in=False)
    line.quota = MessageQuota(limit=1000, used=250)
    page = post(as_admin, PREVIEW, **flex_form())
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "夏のセール開催中" in html  # the bubble, drawn by the Flex renderer
    assert re.search(r'id="selected">9人', html)
    assert re.search(r'id="opted-out">2人', html)
    assert re.search(r'id="needed">7通', html)
    assert "750通（上限 1,000通・使用済み 250通）" in html
    assert "<script" not in html.split("</head>")[1]  # nothing inline under the CSP
    # The free values (the red of the headline) come from the console's value stylesheet.
    values = re.search(r'href="(/console/flex-values\.css\?c=[^"]+)"', html).group(1)
    assert "d0021b" in values.lower()
    assert "d0021b" in as_admin.get(values.replace("&amp;", "&")).get_data(as_text=True).lower()
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert broadcasts_stored(app) == 0  # a preview stores nothing


def test_preview_says_when_a_night_time_is_held_until_the_morning(app, as_admin):
    add_shoppers(app, 1)
    html = post(as_admin, PREVIEW, **flex_form(when="later", send_at="2025-07-01T23:30"))
    assert "2025/07/02 09:00 以降" in html.get_data(as_text=True)
    html = post(as_admin, PREVIEW, **flex_form(when="later", send_at="2025-07-01T19:00"))
    assert 'id="quiet-note"' not in html.get_data(as_text=True)


def test_segment_counts_only_matching_members(app, as_admin):
    add_shoppers(app, 3, member_prefix="M")
    set_attributes(app, "M1", tags=["VIP"], order_count=3)
    set_attributes(app, "M2", tags=["new"], order_count=0)
    html = post(as_admin, PREVIEW, **flex_form(segment="tags contains vip")).get_data(True)
    assert re.search(r'id="selected">1人', html)
    segment = "all:\n  - order_count >= 0\n  - not: tags contains vip\n"
    html = post(as_admin, PREVIEW, **flex_form(segment=segment)).get_data(True)
    assert re.search(r'id="selected">1人', html)  # M3 has no attributes: never on a guess


def test_send_now_creates_once_and_the_job_multicasts(app, as_admin, line, run_jobs):
    add_shoppers(app, 3)
    first = post(as_admin, CREATE, **flex_form())
    again = post(as_admin, CREATE, **flex_form())  # a double submit
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert broadcasts_stored(app) == 1
    run_jobs()
    assert len(line.sent("multicast")) == 1
    detail = as_admin.get(first.headers["Location"]).get_data(as_text=True)
    assert 'data-state="done"' in detail and "送信済み" in detail


def test_schedule_in_shop_time_is_stored_in_utc_and_cancelled(app, as_admin, line, run_jobs):
    add_shoppers(app, 2)
    form = flex_form(when="later", send_at="2025-07-02T18:30")
    response = post(as_admin, CREATE, **form)
    assert response.status_code == 303
    broadcast_id = int(response.headers["Location"].rsplit("/", 1)[1])
    row = broadcast_row(app, broadcast_id)
    assert row.scheduled_at.isoformat() == "2025-07-02T09:30:00+00:00"
    run_jobs()
    assert line.sent("multicast") == []
    cancelled = post(as_admin, f"/console/broadcasts/{broadcast_id}/cancel")
    assert cancelled.status_code == 303
    assert broadcast_row(app, broadcast_id).state.value == "cancelled"


def test_cancel_after_it_started_is_refused(app, as_admin, line, run_jobs):
    add_shoppers(app, 1)
    response = post(as_admin, CREATE, **flex_form())
    run_jobs()
    url = response.headers["Location"] + "/cancel"
    refused = post(as_admin, url)
    assert refused.status_code == 409
    assert "取り消せません" in refused.get_data(as_text=True)


def test_send_now_over_the_quota_is_refused_with_the_figures(app, as_admin, line):
    add_shoppers(app, 5)
    line.quota = MessageQuota(limit=100, used=97)
    response = post(as_admin, CREATE, **flex_form())
    assert response.status_code == 409
    assert "残り送信数（3通）" in response.get_data(as_text=True)
    assert broadcasts_stored(app) == 0


def test_quota_unreadable_is_a_reason_not_a_crash(app, as_admin, line: InMemoryLineGateway):
    add_shoppers(app, 1)
    line.fail_next(LineServerError("Internal server error", status=500))
    response = post(as_admin, CREATE, **flex_form())
    assert response.status_code == 503
    assert "確認できませんでした" in response.get_data(as_text=True)


def test_template_broadcast_is_multicast_unless_personalised(app, as_admin, line, run_jobs):
    add_shoppers(app, 2)
    page = as_admin.get(NEW + "?template=restock_notice").get_data(as_text=True)
    data = re.search(r'name="template_data"[^>]*>([^<]*)</textarea>', page).group(1)
    data = data.replace("&#34;", '"').replace("&quot;", '"')
    form = {
        "title": "再入荷のお知らせ",
        "source": "template",
        "template": "restock_notice",
        "template_data": data,
        "segment": "",
        "when": "now",
        "create_key": "template-key-000001",
    }
    assert post(as_admin, CREATE, **form).status_code == 303
    run_jobs()
    (request,) = line.sent("multicast")
    assert "お客様" in request["messages"][0]["altText"]
    personal = {**form, "personalise": "on", "create_key": "template-key-000002"}
    assert post(as_admin, CREATE, **personal).status_code == 303
    with freeze_time(NOON.replace(day=2)):  # the next day: under the daily cap again
        run_jobs()
    pushes = line.sent("push")
    assert sorted(p["messages"][0]["altText"].split("、")[0] for p in pushes) == [
        "テスト 1様",
        "テスト 2様",
    ]


# -- who may do what ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", NEW),
        ("post", PREVIEW),
        ("post", CREATE),
        ("post", "/console/broadcasts/{id}/cancel"),
    ],
)
def test_operators_cannot_compose_or_cancel(app, as_operator, method, url):
    broadcast_id = make_broadcast(app, send_at=NOON.replace(day=9))
    url = url.format(id=broadcast_id)
    response = as_operator.get(url) if method == "get" else post(as_operator, url, **flex_form())
    assert response.status_code == 403
    assert broadcast_row(app, broadcast_id).state.value == "scheduled"
    assert broadcasts_stored(app) == 1


def test_operators_see_the_list_and_progress(app, as_operator):
    broadcast_id = make_broadcast(app)
    listing = as_operator.get("/console/broadcasts").get_data(as_text=True)
    assert "夏のセール" in listing and "新しい一斉配信" not in listing
    detail = as_operator.get(f"/console/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert "予約済み" in detail and 'id="cancel"' not in detail


def test_signed_out_visitors_are_sent_to_login(client):
    assert client.get("/console/broadcasts").status_code == 302
    assert client.post(CREATE, data=flex_form()).status_code in (400, 401)


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_create_and_cancel_need_the_csrf_token(app, as_admin, token):
    broadcast_id = make_broadcast(app, send_at=NOON.replace(day=9))
    data = flex_form() | ({} if token is None else {"csrf_token": token})
    assert as_admin.post(CREATE, data=data).status_code == 400
    cancel = {} if token is None else {"csrf_token": token}
    assert (
        as_admin.post(f"/console/broadcasts/{broadcast_id}/cancel", data=cancel).status_code == 400
    )
    assert broadcasts_stored(app) == 1
    assert broadcast_row(app, broadcast_id).state.value == "scheduled"


# -- tampered and oversized forms ------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"flex_json": "{not json"}, "Flex JSON を読めません"),
        ({"flex_json": "[1, 2]"}, "オブジェクト"),
        ({"flex_json": json.dumps({"type": "bubble"}), "alt_text": ""}, "通知文"),
        ({"flex_json": json.dumps({"type": "image"})}, "bubble か carousel"),
        (
            {"flex_json": json.dumps({"type": "bubble", "body": {"type": "box"}})},
            "LINEが受け付けない",
        ),
        ({"flex_json": "{" + " " * 70_000 + "}"}, "大きすぎます"),
        ({"segment": "cart_value >= 5000"}, "カートごとの値"),
        ({"segment": "tags >= 3"}, "配信先の条件が正しくありません"),
        ({"segment": "a: &x [1]\nb: *x"}, "参照"),
        ({"segment": "x" * 2001}, "2,000文字"),
        ({"source": "sql"}, "メッセージの作り方"),
        ({"source": "template", "template": "faq_answer"}, "テンプレートを選んで"),
        ({"source": "template", "template": "cart_reminder"}, "テンプレートを選んで"),
        ({"source": "template", "template": "repeat_offer@nope"}, "バリエーション"),
        ({"when": "yesterday"}, "タイミング"),
        ({"when": "later", "send_at": "2025-06-30T10:00"}, "これから先"),
        ({"when": "later", "send_at": "明日"}, "予約日時を正しく"),
        ({"title": "  "}, "配信名を入力"),
    ],
)
def test_bad_forms_are_refused_with_a_reason(app, as_admin, changes, reason):
    response = post(as_admin, CREATE, **flex_form(**changes))
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert broadcasts_stored(app) == 0


def test_a_body_over_a_megabyte_is_413(app, as_admin):
    data = flex_form(flex_json="x" * (1024 * 1024 + 10), csrf_token=csrf(as_admin))
    response = as_admin.post(CREATE, data=data)
    assert response.status_code == 413
    assert broadcasts_stored(app) == 0


def test_a_tampered_create_key_is_refused(app, as_admin):
    response = post(as_admin, CREATE, **flex_form(create_key="short"))
    assert response.status_code == 400
    assert broadcasts_stored(app) == 0


# -- opens and taps from LINE's insight ------------------------------------------------------


def _insight_of(html: str) -> tuple[str, str, str]:
    section = re.search(r'<section class="card" id="insight">(.*?)</section>', html, re.S)
    assert section is not None
    opens = re.search(r'<dd id="opens">([^<]*)</dd>', section.group(1)).group(1)
    taps = re.search(r'<dd id="taps">([^<]*)</dd>', section.group(1)).group(1)
    return opens, taps, section.group(1)


def _sent_to_two(app) -> tuple[int, str]:
    """A broadcast sent to two shoppers: its id and its aggregation unit."""
    add_shoppers(app, 2)
    broadcast_id = make_broadcast(app)
    run_sender(app, broadcast_id)
    return broadcast_id, broadcast_unit(broadcast_id)


def test_detail_shows_opens_and_taps_summed_over_lines_days(app, as_operator):
    broadcast_id, unit = _sent_to_two(app)
    store_insight(app, unit, date(2025, 7, 1), 1250, 87)
    store_insight(app, unit, date(2025, 7, 2), 140, None)  # taps under 20 that day
    store_insight(app, "cart_abandonment_reminder", date(2025, 7, 1), 999, 999)  # a step's
    html = as_operator.get(f"/console/broadcasts/{broadcast_id}").get_data(as_text=True)
    opens, taps, section = _insight_of(html)
    assert opens == "延べ1,390人"
    assert taps == "延べ87人以上（1日分は20人未満のため非表示）"
    assert "2日分" in section and "2日にわたって開くと2人と数えます" in section


def test_detail_shows_lines_period_figure_with_the_daily_sum_beside_it(app, as_operator):
    broadcast_id, unit = _sent_to_two(app)
    store_insight(app, unit, date(2025, 7, 1), 1250, 87)
    store_insight(app, unit, date(2025, 7, 2), 140, None)
    # 90 shoppers opened on both days: LINE's period figure counts them once.
    store_period(app, unit, (date(2025, 7, 1), date(2025, 7, 2)), 1300, None)
    html = as_operator.get(f"/console/broadcasts/{broadcast_id}").get_data(as_text=True)
    opens, taps, section = _insight_of(html)
    assert opens == "1,300人（延べ1,390人）"
    assert taps == "20人未満のため非表示"  # hidden for the period: never the daily sum as if whole
    assert "7/1〜7/2の期間で重複を除いて" in section
    assert "2日にわたって開くと2人" not in section


def test_detail_shows_the_period_alone_when_the_days_were_hidden(app, as_operator):
    broadcast_id, unit = _sent_to_two(app)
    for day in (1, 2):
        store_insight(app, unit, date(2025, 7, day), None, None)  # under 20 each day
    store_period(app, unit, (date(2025, 7, 1), date(2025, 7, 2)), 31, 20)
    html = as_operator.get(f"/console/broadcasts/{broadcast_id}").get_data(as_text=True)
    opens, taps, _ = _insight_of(html)
    assert (opens, taps) == ("31人", "20人")


def test_detail_says_hidden_when_line_hid_every_day(app, as_operator):
    broadcast_id, unit = _sent_to_two(app)
    for day in (1, 2, 3):
        store_insight(app, unit, date(2025, 7, day), None, None)
    html = as_operator.get(f"/console/broadcasts/{broadcast_id}").get_data(as_text=True)
    opens, taps, _ = _insight_of(html)
    assert opens == taps == "20人未満のため非表示"
    assert "延べ0人" not in html


def test_detail_before_lines_figures_and_before_sending(app, as_operator):
    add_shoppers(app, 1)
    sent = make_broadcast(app)
    run_sender(app, sent)
    html = as_operator.get(f"/console/broadcasts/{sent}").get_data(as_text=True)
    assert _insight_of(html)[:2] == ("まだ取得していません", "まだ取得していません")
    scheduled = make_broadcast(app, send_at=NOON.replace(day=9), key="later-key-000001")
    html = as_operator.get(f"/console/broadcasts/{scheduled}").get_data(as_text=True)
    assert 'id="insight"' not in html  # nothing was sent: nothing to count
