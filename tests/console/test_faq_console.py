"""The console's FAQ section: entries, 未解決の質問, figures per entry, 試す, and who may act."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.faq import conversation
from bot.faq import store as faq_store
from bot.faq.store import FaqCache
from bot.models import Faq, FaqInteraction, FaqState
from bot.shoppers.service import get_or_create_shopper
from tests.helpers.console import csrf, post
from tests.helpers.faq import FAQ_FILE

USERS = ["U" + c * 32 for c in "abcdef"]


@pytest.fixture
def faq(app: Flask) -> None:
    """The test FAQ imported."""
    with app.app_context():
        services = app.extensions["bot"]
        session = services.db.session()
        entries = faq_store.read_faq_file(FAQ_FILE)
        faq_store.import_entries(session, entries, services.clock.now())
        session.commit()


def _session(app: Flask):
    return app.extensions["bot"].db.session()


def record(
    app: Flask,
    text: str | None,
    outcome: str,
    user: str = USERS[0],
    faq_id: str | None = None,
    ago: timedelta = timedelta(0),
) -> int:
    """One interaction as the bot records it."""
    with app.app_context():
        session = _session(app)
        now = app.extensions["bot"].clock.now() - ago
        shopper = get_or_create_shopper(session, user, now)
        row = conversation.record_interaction(
            session, shopper, outcome, now, text=text, faq_id=faq_id, score=0.3
        )
        session.commit()
        return row.id


def pick(app: Flask, user: str, faq_id: str) -> None:
    with app.app_context():
        session = _session(app)
        now = app.extensions["bot"].clock.now()
        shopper = get_or_create_shopper(session, user, now)
        conversation.pick(session, shopper, faq_store.get_entry(session, faq_id), now)
        session.commit()


def feedback(app: Flask, user: str, faq_id: str, resolved: bool) -> None:
    with app.app_context():
        session = _session(app)
        services = app.extensions["bot"]
        now = services.clock.now()
        shopper = get_or_create_shopper(session, user, now)
        conversation.feedback(session, shopper, faq_id, resolved, now, services.settings)
        session.commit()


def interaction(app: Flask, ident: int) -> FaqInteraction:
    with app.app_context():
        session = _session(app)
        row = session.get(FaqInteraction, ident)
        session.expunge_all()
        return row


def entry(app: Flask, faq_id: str):
    with app.app_context():
        return faq_store.get_entry(_session(app), faq_id)


def version(app: Flask) -> int:
    with app.app_context():
        return faq_store.current_version(_session(app))


def entry_form(**overrides: str) -> dict[str, str]:
    values = {
        "faq_id": "store_hours",
        "category": "店舗",
        "question": "実店舗の営業時間は?",
        "variants": "お店は何時まで開いていますか\n\nお店は何時まで開いていますか\n店舗は何時から",
        "keywords": "実店舗\n営業時間",
        "answer": "実店舗は毎日10時から19時まで営業しています。",
    }
    values.update(overrides)
    return values


# -- entries -----------------------------------------------------------------------------------


def test_entries_list_shows_each_entry_with_its_figures(
    app: Flask, faq: None, as_operator: FlaskClient
) -> None:
    for user, resolved in zip(USERS[:3], (True, True, False), strict=True):
        record(app, "送料は?", "answer", user, faq_id="shipping_fee")
        feedback(app, user, "shipping_fee", resolved)
    record(app, None, "picked", USERS[3], faq_id="shipping_fee")  # picked, no reply yet
    page = as_operator.get("/console/faq")
    assert page.status_code == 200
    html = page.text
    row = html[html.index('data-faq="shipping_fee"') :]
    row = row[: row.index("</tr>")]
    assert "<td>4</td>" in row  # answered: three direct answers and one pick
    assert "2／1" in row
    assert "67%" in row
    assert 'data-faq="gift_wrapping"' in html  # no figures yet: shown with dashes
    gift = html[html.index('data-faq="gift_wrapping"') :]
    assert "<td>0</td>" in gift[: gift.index("</tr>")]


def test_search_finds_entries_by_any_of_their_texts(faq: None, as_operator: FlaskClient) -> None:
    html = as_operator.get("/console/faq", query_string={"q": "包んで"}).text  # a variant
    assert 'data-faq="gift_wrapping"' in html
    assert 'data-faq="shipping_fee"' not in html
    html = as_operator.get("/console/faq", query_string={"q": "該当しない言葉"}).text
    assert "該当する項目はありません" in html


def test_a_too_long_search_is_refused_in_japanese(faq: None, as_operator: FlaskClient) -> None:
    response = as_operator.get("/console/faq", query_string={"q": "あ" * 201})
    assert response.status_code == 400
    assert "200文字以内" in response.text


def test_admin_creates_an_entry_that_the_bot_answers_at_once(
    app: Flask, faq: None, as_admin: FlaskClient
) -> None:
    before = version(app)
    # The matcher of this process is built before the entry exists.
    assert (
        "store_hours"
        not in as_admin.post(
            "/console/faq/try",
            data={"text": "お店は何時まで開いていますか", "csrf_token": csrf(as_admin)},
        ).text
    )
    response = post(as_admin, "/console/faq/new", **entry_form())
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/console/faq/entries/store_hours")
    created = entry(app, "store_hours")
    assert created.question == "実店舗の営業時間は?"
    assert created.variants == ("お店は何時まで開いていますか", "店舗は何時から")  # blanks, repeats
    assert created.keywords == ("実店舗", "営業時間")
    assert version(app) == before + 1
    with app.app_context():
        file_count = len(faq_store.read_faq_file(FAQ_FILE))
        assert _session(app).get(FaqState, 1).entry_count == file_count + 1
        exported = faq_store.export_yaml(_session(app))
    assert "store_hours" in exported
    tried = post(as_admin, "/console/faq/try", text="お店は何時まで開いていますか")
    assert 'class="try-entry">store_hours<' in tried.text
    assert "毎日10時から19時まで" in tried.text


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"answer": ""}, "回答を入力してください"),
        ({"answer": "あ" * 5001}, "5,000文字以内"),
        ({"question": "  "}, "質問を入力してください"),
        ({"question": "送料は\nいくら"}, "改行や制御文字"),
        ({"faq_id": "送料"}, "半角英数字"),
        ({"faq_id": "a" * 65}, "64文字以内"),
        ({"faq_id": "shipping_fee"}, "すでに使われています"),
        ({"variants": "あ" * 301}, "言い換えは300文字以内"),
        ({"keywords": "\n".join(f"語{i}" for i in range(51))}, "キーワードは50件まで"),
        ({"answer": "ご案内\x07です"}, "制御文字"),
        ({"category": "カ" * 101}, "カテゴリは100文字以内"),
    ],
)
def test_an_invalid_entry_is_refused_with_the_reason_and_the_form_kept(
    app: Flask, faq: None, as_admin: FlaskClient, change: dict[str, str], reason: str
) -> None:
    before = version(app)
    response = post(as_admin, "/console/faq/new", **entry_form(**change))
    assert response.status_code == 400
    assert reason in response.text
    assert "実店舗" in response.text  # what the admin typed is still there
    assert version(app) == before
    if change.get("faq_id") != "shipping_fee":
        assert entry(app, entry_form(**change)["faq_id"]) is None


def test_an_answer_of_exactly_5000_characters_is_accepted(
    app: Flask, faq: None, as_admin: FlaskClient
) -> None:
    response = post(as_admin, "/console/faq/new", **entry_form(answer="あ" * 5000))
    assert response.status_code == 303
    assert len(entry(app, "store_hours").answer) == 5000


def test_admin_edits_an_entry_and_a_stale_form_does_not_overwrite(
    app: Flask, faq: None, as_admin: FlaskClient
) -> None:
    page = as_admin.get("/console/faq/entries/shipping_fee")
    assert page.status_code == 200
    assert "送料は全国一律600円" in page.text
    stale = page.text.split('name="updated_at" value="')[1].split('"')[0]
    before = version(app)
    form = entry_form(
        faq_id="ignored",
        question="送料はいくらですか?",
        answer="送料は全国一律700円(税込)です。",
        updated_at=stale,
    )
    assert post(as_admin, "/console/faq/entries/shipping_fee", **form).status_code == 303
    saved = entry(app, "shipping_fee")
    assert saved.answer == "送料は全国一律700円(税込)です。"
    assert entry(app, "ignored") is None  # the id of an entry never changes
    assert version(app) == before + 1
    # A second save from the form opened before the first one is a conflict.
    form["answer"] = "送料は無料です。"
    response = post(as_admin, "/console/faq/entries/shipping_fee", **form)
    assert response.status_code == 409
    assert "ほかの人がこの項目を先に更新しました" in response.text
    assert entry(app, "shipping_fee").answer == "送料は全国一律700円(税込)です。"


def test_admin_deletes_an_entry(app: Flask, faq: None, as_admin: FlaskClient) -> None:
    before = version(app)
    response = post(as_admin, "/console/faq/entries/gift_wrapping/delete")
    assert response.status_code == 303
    assert entry(app, "gift_wrapping") is None
    assert version(app) == before + 1
    again = post(as_admin, "/console/faq/entries/gift_wrapping/delete")
    assert again.status_code == 404
    assert "見つかりません" in again.text


def test_an_edit_reaches_another_process_without_a_restart(
    app: Flask, faq: None, as_admin: FlaskClient
) -> None:
    ticks = [0.0]
    other = FaqCache(check_every=3.0, monotonic=lambda: ticks[0])  # another worker
    with app.app_context():
        assert "store_hours" not in {e.id for e in other.matcher(_session(app)).entries}
    post(as_admin, "/console/faq/new", **entry_form())
    with app.app_context():
        _session(app).expire_all()
        assert "store_hours" not in {e.id for e in other.matcher(_session(app)).entries}
        ticks[0] = 3.0  # its next check, seconds later
        assert "store_hours" in {e.id for e in other.matcher(_session(app)).entries}


def test_export_is_the_import_format(app: Flask, faq: None, as_operator: FlaskClient) -> None:
    response = as_operator.get("/console/faq/export")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    from bot.faq.file_format import parse_faq_text

    assert parse_faq_text(response.text) == faq_store.read_faq_file(FAQ_FILE)


def test_unknown_entry_is_not_found(faq: None, as_admin: FlaskClient) -> None:
    response = as_admin.get("/console/faq/entries/no_such_entry")
    assert response.status_code == 404
    assert "FAQ項目が見つかりません" in response.text


# -- authorization -----------------------------------------------------------------------------

ADMIN_ONLY_POSTS = [
    ("/console/faq/new", entry_form()),
    ("/console/faq/entries/shipping_fee", entry_form(answer="書き換え")),
    ("/console/faq/entries/shipping_fee/delete", {}),
]


@pytest.mark.parametrize(
    "url", ["/console/faq", "/console/faq/unresolved", "/console/faq/try", "/console/faq/export"]
)
def test_operators_may_view_every_faq_page(faq: None, as_operator: FlaskClient, url: str) -> None:
    assert as_operator.get(url).status_code == 200


def test_operators_see_an_entry_but_no_form(faq: None, as_operator: FlaskClient) -> None:
    page = as_operator.get("/console/faq/entries/shipping_fee")
    assert page.status_code == 200
    assert "送料は全国一律600円" in page.text
    assert 'name="answer"' not in page.text
    assert as_operator.get("/console/faq/new").status_code == 403


@pytest.mark.parametrize(("url", "data"), ADMIN_ONLY_POSTS)
def test_operators_cannot_change_entries(
    app: Flask, faq: None, as_operator: FlaskClient, url: str, data: dict[str, str]
) -> None:
    before = version(app)
    response = post(as_operator, url, **data)
    assert response.status_code == 403
    assert "権限がありません" in response.text
    assert version(app) == before
    assert entry(app, "shipping_fee").answer.startswith("送料は全国一律600円")
    assert entry(app, "store_hours") is None


def test_operators_cannot_add_a_variant(app: Flask, faq: None, as_operator: FlaskClient) -> None:
    ident = record(app, "送料を知りたい", "none")
    response = post(
        as_operator,
        "/console/faq/unresolved/variant",
        ids=str(ident),
        faq_id="shipping_fee",
        text="送料を知りたい",
    )
    assert response.status_code == 403
    assert "送料を知りたい" not in entry(app, "shipping_fee").variants
    assert interaction(app, ident).review is None


@pytest.mark.parametrize(
    "url", ["/console/faq", "/console/faq/unresolved", "/console/faq/try", "/console/faq/export"]
)
def test_signed_out_visitors_see_no_faq_page(
    app: Flask, faq: None, client: FlaskClient, url: str
) -> None:
    record(app, "山田です。注文番号A-1の荷物が来ない", "none")
    response = client.get(url)
    assert response.status_code == 302
    assert "/console/login" in response.headers["Location"]
    assert "山田" not in response.text


@pytest.mark.parametrize(
    ("url", "data"),
    [
        *ADMIN_ONLY_POSTS,
        ("/console/faq/unresolved/variant", {"faq_id": "shipping_fee", "text": "送料"}),
        ("/console/faq/unresolved/suggest", {"faq_id": "shipping_fee"}),
        ("/console/faq/unresolved/dismiss", {}),
        ("/console/faq/try", {"text": "送料"}),
    ],
)
def test_every_faq_form_needs_the_csrf_token(
    app: Flask, faq: None, as_admin: FlaskClient, url: str, data: dict[str, str]
) -> None:
    ident = record(app, "送料を知りたい", "none")
    before = version(app)
    response = as_admin.post(url, data={**data, "ids": str(ident), "csrf_token": "wrong"})
    assert response.status_code == 400
    assert "再読み込み" in response.text
    assert version(app) == before
    assert interaction(app, ident).review is None


# -- unresolved questions ----------------------------------------------------------------------


def _groups(html: str) -> list[str]:
    """The sections of the unresolved page, one per group."""
    return html.split('<section class="card faq-group"')[1:]


def _shown(html: str) -> str:
    """The questions listed on the unresolved page (group headings and their phrasings)."""
    heads = re.findall(r'<h2 class="group-text">(.*?)</h2>', html)
    phrasings = re.findall(r"<li>(.*?) <span", html)
    return "\n".join([*heads, *phrasings])


def test_unresolved_lists_misses_unpicked_choices_and_noes_grouped(
    app: Flask, faq: None, as_operator: FlaskClient
) -> None:
    first = record(app, "送料はいくらですか", "none", USERS[0], ago=timedelta(days=3))
    record(app, "送料っていくら?", "none", USERS[1], ago=timedelta(days=1))
    record(app, "送料はいくらですか", "suggest", USERS[2])  # choices nobody picked
    record(app, "ラッピングしてもらえる?", "suggest", USERS[3])
    pick(app, USERS[3], "gift_wrapping")  # picked and happy: resolved
    feedback(app, USERS[3], "gift_wrapping", True)
    record(app, "プレゼント用にできますか", "suggest", USERS[4])
    pick(app, USERS[4], "gift_wrapping")
    feedback(app, USERS[4], "gift_wrapping", False)  # picked, then 「いいえ」
    record(app, "返品したいです", "answer", USERS[5], faq_id="return_policy")
    feedback(app, USERS[5], "return_policy", False)
    record(app, "何日で届きますか", "answer", USERS[0], faq_id="delivery_time")
    feedback(app, USERS[0], "delivery_time", True)
    record(app, "担当者と話したい", "human", USERS[1])
    record(app, "古い質問", "none", USERS[2], ago=timedelta(days=40))  # outside 30 days

    page = as_operator.get("/console/faq/unresolved")
    assert page.status_code == 200
    html = page.text
    groups = _groups(html)
    # Three wordings of the shipping question are one group, largest first.
    assert 'data-count="3"' in groups[0]
    assert "送料はいくらですか" in groups[0] and "送料っていくら?" in groups[0]
    assert "回答なし 2" in groups[0] and "選ばれず 1" in groups[0]
    asked = interaction(app, first).created_at
    assert asked.astimezone(app.extensions["bot"].settings.tz).strftime("%Y/%m/%d") in groups[0]
    texts = _shown(html)
    assert "プレゼント用にできますか" in texts and "返品したいです" in texts
    noes = next(g for g in groups if "返品したいです" in g)
    assert "「いいえ」 1" in noes and "return_policy" in noes
    for resolved in ("ラッピングしてもらえる?", "何日で届きますか", "担当者と話したい", "古い質問"):
        assert resolved not in texts
    assert "古い質問" in _shown(as_operator.get("/console/faq/unresolved?days=90").text)


def test_a_pick_points_at_the_choices_it_answers(app: Flask, faq: None) -> None:
    asked = record(app, "ラッピングしてもらえる?", "suggest", USERS[0])
    record(app, "ほかの人の質問", "suggest", USERS[1])
    pick(app, USERS[0], "gift_wrapping")
    with app.app_context():
        picked = (
            _session(app)
            .scalars(select(FaqInteraction).where(FaqInteraction.outcome == "picked"))
            .one()
        )
        assert picked.asked_id == asked
        assert picked.text is None  # the question's text stays on one row only


def test_an_unsent_question_drops_out(app: Flask, faq: None, as_operator: FlaskClient) -> None:
    ident = record(app, "山田花子です、届きません", "none")
    assert "山田花子" in as_operator.get("/console/faq/unresolved").text
    with app.app_context():
        _session(app).get(FaqInteraction, ident).text = None  # what unsend does
        _session(app).commit()
    assert "山田花子" not in as_operator.get("/console/faq/unresolved").text


def test_admin_adds_a_question_as_a_variant_and_the_bot_answers_it(
    app: Flask, faq: None, as_admin: FlaskClient
) -> None:
    ids = [
        record(app, "配送にかかる費用はどのくらい?", "none", USERS[0]),
        record(app, "配送にかかる費用はどのくらい?", "none", USERS[1]),
    ]
    other = record(app, "ポイントは使えますか", "none", USERS[2])
    html = as_admin.get("/console/faq/unresolved").text
    group = next(g for g in _groups(html) if "配送にかかる費用" in g)
    assert f'value="{ids[1]},{ids[0]}"' in group or f'value="{ids[0]},{ids[1]}"' in group
    before = version(app)
    response = post(
        as_admin,
        "/console/faq/unresolved/variant",
        ids=",".join(map(str, ids)),
        faq_id="shipping_fee",
        text="配送にかかる費用はどのくらい?",
        days="30",
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/console/faq/unresolved?days=30")
    assert "配送にかかる費用はどのくらい?" in entry(app, "shipping_fee").variants
    assert version(app) == before + 1
    for ident in ids:
        row = interaction(app, ident)
        assert (row.review, row.review_faq_id) == ("variant", "shipping_fee")
        assert row.reviewed_by is not None
    assert interaction(app, other).review is None
    html = as_admin.get("/console/faq/unresolved").text
    assert "配送にかかる費用" not in html
    assert "ポイントは使えますか" in html
    tried = post(as_admin, "/console/faq/try", text="配送にかかる費用はどのくらい?")
    assert 'class="try-entry">shipping_fee<' in tried.text


def test_the_admin_may_reword_a_question_before_adding_it(
    app: Flask, faq: None, as_admin: FlaskClient
) -> None:
    ident = record(app, "山田です。送料はどれくらい?", "none")
    post(
        as_admin,
        "/console/faq/unresolved/variant",
        ids=str(ident),
        faq_id="shipping_fee",
        text="送料はどれくらい?",
    )
    variants = entry(app, "shipping_fee").variants
    assert "送料はどれくらい?" in variants
    assert not any("山田" in v for v in variants)


def test_a_new_entry_starts_from_a_question(app: Flask, faq: None, as_admin: FlaskClient) -> None:
    first = record(app, "実店舗はありますか", "none", USERS[0])
    second = record(app, "実店舗はありますか", "none", USERS[1])
    html = as_admin.get("/console/faq/unresolved").text
    assert f"/console/faq/new?from={second}" in html or f"/console/faq/new?from={first}" in html
    form = as_admin.get(f"/console/faq/new?from={first}&ids={first},{second}")
    assert form.status_code == 200
    assert 'name="question" value="実店舗はありますか"' in form.text
    assert f'name="from_ids" value="{first},{second}"' in form.text
    response = post(
        as_admin,
        "/console/faq/new",
        **entry_form(faq_id="real_store", question="実店舗はありますか", variants=""),
        from_ids=f"{first},{second}",
    )
    assert response.status_code == 303
    assert entry(app, "real_store").question == "実店舗はありますか"
    assert {interaction(app, i).review for i in (first, second)} == {"entry"}
    assert "実店舗はありますか" not in _shown(as_admin.get("/console/faq/unresolved").text)


def test_an_operator_suggests_an_entry_and_the_admin_sees_it_chosen(
    app: Flask, faq: None, as_operator: FlaskClient, as_admin: FlaskClient
) -> None:
    ident = record(app, "のし紙をつけたい", "none")
    page = as_operator.get("/console/faq/unresolved").text
    assert "この項目を提案" in page and 'name="text"' not in page
    response = post(
        as_operator, "/console/faq/unresolved/suggest", ids=str(ident), faq_id="gift_wrapping"
    )
    assert response.status_code == 303
    row = interaction(app, ident)
    assert (row.review, row.review_faq_id) == ("suggested", "gift_wrapping")
    assert "のし紙をつけたい" not in entry(app, "gift_wrapping").variants  # not yet
    group = _groups(as_admin.get("/console/faq/unresolved").text)[0]
    assert "のし紙をつけたい" in group
    assert "提案：gift_wrapping" in group
    assert 'name="faq_id" value="gift_wrapping"' in group
    post(
        as_admin,
        "/console/faq/unresolved/variant",
        ids=str(ident),
        faq_id="gift_wrapping",
        text="のし紙をつけたい",
    )
    assert "のし紙をつけたい" in entry(app, "gift_wrapping").variants
    assert interaction(app, ident).review == "variant"


def test_staff_dismiss_a_group(app: Flask, faq: None, as_operator: FlaskClient) -> None:
    ids = [record(app, "こんにちは", "none", user) for user in USERS[:2]]
    response = post(as_operator, "/console/faq/unresolved/dismiss", ids=",".join(map(str, ids)))
    assert response.status_code == 303
    assert "こんにちは" not in as_operator.get("/console/faq/unresolved").text
    assert {interaction(app, i).review for i in ids} == {"dismissed"}
    # Dismissing again changes nothing (already decided).
    post(as_operator, "/console/faq/unresolved/dismiss", ids=",".join(map(str, ids)))
    assert {interaction(app, i).review for i in ids} == {"dismissed"}


def test_a_decision_never_touches_questions_already_decided_or_resolved(
    app: Flask, faq: None, as_admin: FlaskClient
) -> None:
    dismissed = record(app, "こんにちは", "none")
    post(as_admin, "/console/faq/unresolved/dismiss", ids=str(dismissed))
    human = record(app, None, "human")  # a tap without text
    post(
        as_admin,
        "/console/faq/unresolved/variant",
        ids=f"{dismissed},{human}",
        faq_id="shipping_fee",
        text="送料の質問",
    )
    assert interaction(app, dismissed).review == "dismissed"
    assert interaction(app, human).review is None


@pytest.mark.parametrize(
    ("url", "data", "status", "reason"),
    [
        ("/console/faq/unresolved/dismiss", {"ids": "abc"}, 400, "指定が正しくありません"),
        ("/console/faq/unresolved/dismiss", {"ids": ""}, 400, "指定が正しくありません"),
        ("/console/faq/unresolved/dismiss", {"ids": "99999999999"}, 400, "指定が正しくありません"),
        (
            "/console/faq/unresolved/dismiss",
            {"ids": ",".join(["1"] * 2001)},
            400,
            "指定が正しくありません",
        ),
        ("/console/faq/unresolved/suggest", {"ids": "1", "faq_id": ""}, 400, "項目を選んで"),
        ("/console/faq/unresolved/suggest", {"ids": "1", "faq_id": "nope"}, 400, "項目を選んで"),
        (
            "/console/faq/unresolved/variant",
            {"ids": "1", "faq_id": "shipping_fee", "text": ""},
            400,
            "質問を入力してください",
        ),
        (
            "/console/faq/unresolved/variant",
            {"ids": "1", "faq_id": "shipping_fee", "text": "あ" * 301},
            400,
            "300文字以内",
        ),
        ("/console/faq/try", {"text": ""}, 400, "入力してください"),
        ("/console/faq/try", {"text": "あ" * 5001}, 400, "5,000文字以内"),
        ("/console/faq/try", {"text": "送料\x00"}, 400, "NUL"),
    ],
)
def test_bad_input_is_refused_with_a_japanese_reason(
    faq: None, as_admin: FlaskClient, url: str, data: dict[str, str], status: int, reason: str
) -> None:
    response = post(as_admin, url, **data)
    assert response.status_code == status
    assert reason in response.text


@pytest.mark.parametrize(
    ("url", "status", "reason"),
    [
        ("/console/faq/unresolved?days=5", 400, "期間は"),
        ("/console/faq/unresolved?days=x", 400, "期間は"),
        ("/console/faq/unresolved?days=%C2%B2", 400, "期間は"),  # ² is a digit to str.isdigit
        ("/console/faq/new?from=99999", 404, "元の質問が見つかりません"),
        ("/console/faq/new?from=-x", 400, "指定が正しくありません"),
        ("/console/faq/new?ids=1,a", 400, "指定が正しくありません"),
    ],
)
def test_bad_query_values_are_refused(
    faq: None, as_admin: FlaskClient, url: str, status: int, reason: str
) -> None:
    response = as_admin.get(url)
    assert response.status_code == status
    assert reason in response.text


def test_shopper_and_entry_text_is_always_escaped(
    app: Flask, faq: None, as_admin: FlaskClient
) -> None:
    attack = '<img src=x onerror="alert(1)">送料'
    record(app, attack, "none")
    post(
        as_admin,
        "/console/faq/new",
        **entry_form(question="<script>alert(1)</script>営業時間", answer="<b>毎日</b>営業"),
    )
    pages = [
        as_admin.get("/console/faq/unresolved").text,
        as_admin.get("/console/faq").text,
        as_admin.get("/console/faq/entries/store_hours").text,
        post(as_admin, "/console/faq/try", text="<script>alert(1)</script>営業時間").text,
    ]
    for html in pages:
        assert "<img src=x" not in html
        assert "<script>alert" not in html
        assert "<b>毎日" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;送料" in pages[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;営業時間" in pages[1]


# -- 試す --------------------------------------------------------------------------------------


def test_try_shows_the_answer_and_the_scores_of_the_candidates(
    app: Flask, faq: None, as_operator: FlaskClient
) -> None:
    response = post(as_operator, "/console/faq/try", text="送料はいくらですか?")
    assert response.status_code == 200
    html = response.text
    assert "ボットの判断：回答する" in html
    assert "送料は全国一律600円" in html
    table = html[html.index("try-candidates") :]
    with app.app_context():
        result = app.extensions["bot"].faq_cache.matcher(_session(app)).ask("送料はいくらですか?")
    assert result.candidates
    for candidate in result.candidates:
        assert candidate.faq_id in table
        assert f"{candidate.score:.3f}" in table
    with app.app_context():  # trying records nothing
        assert _session(app).scalar(select(FaqInteraction.id)) is None


def test_try_says_what_the_bot_says_when_nothing_fits(faq: None, as_operator: FlaskClient) -> None:
    html = post(as_operator, "/console/faq/try", text="今日はいい天気ですね").text
    assert "ボットの判断：「分かりません」と答える" in html
    assert "お答えできる情報が見つかりませんでした" in html


def test_try_with_a_request_for_a_person(faq: None, as_operator: FlaskClient) -> None:
    html = post(as_operator, "/console/faq/try", text="担当者と話したいです").text
    assert "ボットの判断：担当者につなぐ" in html


def test_the_faq_link_is_in_the_navigation_for_every_role(
    faq: None, as_operator: FlaskClient, as_admin: FlaskClient
) -> None:
    for client in (as_operator, as_admin):
        assert 'href="/console/faq">FAQ</a>' in client.get("/console/queue").text


def test_a_deleted_entry_keeps_nothing_stale_in_the_database(
    app: Flask, faq: None, as_admin: FlaskClient
) -> None:
    post(as_admin, "/console/faq/entries/gift_wrapping/delete")
    with app.app_context():
        ids = set(_session(app).scalars(select(Faq.faq_id)))
        in_file = {e.id for e in faq_store.read_faq_file(FAQ_FILE)}
        assert ids == in_file - {"gift_wrapping"}
        assert _session(app).get(FaqState, 1).entry_count == len(in_file) - 1


@pytest.mark.parametrize("faq_id", ["%00", "a" * 65, "送料", "a%20b"])
def test_an_entry_id_no_entry_can_have_is_not_found(
    faq: None, as_admin: FlaskClient, faq_id: str
) -> None:
    for response in (
        as_admin.get(f"/console/faq/entries/{faq_id}"),
        post(as_admin, f"/console/faq/entries/{faq_id}", **entry_form()),
        post(as_admin, f"/console/faq/entries/{faq_id}/delete"),
    ):
        assert response.status_code == 404
        assert "FAQ項目が見つかりません" in response.text


def test_an_invalid_edit_is_refused_and_keeps_what_was_typed(
    app: Flask, faq: None, as_admin: FlaskClient
) -> None:
    response = post(
        as_admin,
        "/console/faq/entries/shipping_fee",
        **entry_form(question="送料は?", answer="あ" * 5001),
    )
    assert response.status_code == 400
    assert "5,000文字以内" in response.text
    assert 'value="送料は?"' in response.text
    assert entry(app, "shipping_fee").question == "送料はいくらですか?"


def test_a_variant_is_added_to_an_imported_entry_beyond_the_console_limits(
    app: Flask, faq: None, as_admin: FlaskClient
) -> None:
    """An imported answer longer than the console allows does not block adding a phrasing."""
    with app.app_context():
        row = _session(app).scalars(select(Faq).where(Faq.faq_id == "shipping_fee")).one()
        row.answer = "長" * 6000
        _session(app).commit()
    ident = record(app, "送料の目安", "none")
    response = post(
        as_admin,
        "/console/faq/unresolved/variant",
        ids=str(ident),
        faq_id="shipping_fee",
        text="送料の目安",
    )
    assert response.status_code == 303
    assert "送料の目安" in entry(app, "shipping_fee").variants


def test_adding_a_phrasing_already_there_changes_nothing_but_closes_the_group(
    app: Flask, faq: None, as_admin: FlaskClient
) -> None:
    ident = record(app, "送料無料になる条件は?", "none")
    before = version(app)
    response = post(
        as_admin,
        "/console/faq/unresolved/variant",
        ids=str(ident),
        faq_id="shipping_fee",
        text="送料無料になる条件は?",
    )
    assert response.status_code == 303
    assert version(app) == before  # no rebuild anywhere
    assert entry(app, "shipping_fee").variants.count("送料無料になる条件は?") == 1
    assert interaction(app, ident).review == "variant"


def test_an_entry_holds_at_most_the_variant_limit(
    app: Flask, faq: None, as_admin: FlaskClient
) -> None:
    with app.app_context():
        row = _session(app).scalars(select(Faq).where(Faq.faq_id == "shipping_fee")).one()
        row.variants = [f"言い方{i}" for i in range(faq_store.MAX_VARIANTS)]
        _session(app).commit()
    ident = record(app, "送料の目安", "none")
    response = post(
        as_admin,
        "/console/faq/unresolved/variant",
        ids=str(ident),
        faq_id="shipping_fee",
        text="送料の目安",
    )
    assert response.status_code == 400
    assert f"{faq_store.MAX_VARIANTS}件まで" in response.text
    assert interaction(app, ident).review is None
