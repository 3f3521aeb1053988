"""Registering a staff member's LINE account as a test recipient with a one-time code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from bot.console.operators import set_active
from bot.delivery import staff_recipients
from bot.delivery.staff_recipients import code_from_message, display_code
from bot.models import ConversationMessage, Operator, StaffCode
from tests.helpers.console import NOW, make_operator
from tests.helpers.line import SHOPPER_ID, typed
from tests.helpers.staff import issue_code, recipient_users

OTHER_USER = "U" + "2" * 32


@pytest.fixture
def frozen():
    with freeze_time(NOW) as clock:
        yield clock


@pytest.fixture
def sato(app) -> int:
    return make_operator(app, "sato@example.jp", "佐藤")


@pytest.fixture
def suzuki(app) -> int:
    return make_operator(app, "suzuki@example.jp", "鈴木")


@pytest.fixture
def faq_calls(monkeypatch) -> list[str]:
    """What reached the FAQ (its real matcher is tested elsewhere)."""
    calls: list[str] = []
    monkeypatch.setattr(
        "handlers.message.answer_question", lambda event, ctx, body: calls.append(body)
    )
    return calls


def replies(line) -> list[str]:
    return [m["text"] for call in line.sent("reply") for m in call["messages"]]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("テスト ABCD2345", "ABCD2345"),
        ("テスト ABCD-2345", "ABCD2345"),
        ("テストabcd2345", "ABCD2345"),
        ("  ﾃｽﾄ　ＡＢＣＤ－２３４５ ", "ABCD2345"),
        ("テスト", None),
        ("テストしたいです", None),
        ("テスト ABC", None),
        ("テスト ABCD23456", None),
        ("ABCD2345", None),
        ("送料はいくらですか", None),
    ],
)
def test_what_counts_as_a_code(body, code):
    assert code_from_message(body) == code


def test_the_right_code_registers_the_operators_account(app, client, run_jobs, line, frozen, sato):
    code = issue_code(app, sato)
    typed(client, run_jobs, display_code(code))
    assert recipient_users(app) == {sato: SHOPPER_ID}
    assert replies(line) == [
        "佐藤さんのLINEアカウントをテスト配信の受信先に登録しました。"
        "コンソールから送ったテスト配信がこのトークに届きます。"
    ]


def test_the_code_is_kept_only_as_a_keyed_hash_and_never_logged(
    app, client, run_jobs, frozen, sato
):
    code = issue_code(app, sato)
    typed(client, run_jobs, f"テスト {code}")
    with app.app_context():
        session = app.extensions["bot"].db.session()
        stored = session.scalars(select(StaffCode.code_hash)).all()
        logged = session.scalars(select(ConversationMessage.text)).all()
    assert len(stored) == 1 and code not in stored[0]
    assert stored[0] == staff_recipients.code_hash("test-secret-key", code)
    assert not any(code in (text or "") for text in logged)
    assert staff_recipients.LOGGED_TEXT in logged


def test_a_wrong_code_registers_nothing_and_does_not_reach_the_faq(
    app, client, run_jobs, line, frozen, sato, faq_calls
):
    issue_code(app, sato)
    typed(client, run_jobs, "テスト ZZZZ-9999")
    assert recipient_users(app) == {}
    assert faq_calls == []
    assert "コードが正しくありません" in replies(line)[0]


def test_an_expired_code_is_refused(app, client, run_jobs, line, frozen, sato):
    code = issue_code(app, sato)
    frozen.tick(timedelta(minutes=10, seconds=1))
    typed(client, run_jobs, f"テスト {code}")
    assert recipient_users(app) == {}
    assert "有効期限が切れています" in replies(line)[0]


def test_a_code_works_once(app, client, run_jobs, line, frozen, sato):
    code = issue_code(app, sato)
    typed(client, run_jobs, f"テスト {code}")
    typed(client, run_jobs, f"テスト {code}", user=OTHER_USER)
    assert recipient_users(app) == {sato: SHOPPER_ID}
    assert "使用済み" in replies(line)[-1]


def test_a_new_code_replaces_the_operators_unused_one(app, client, run_jobs, line, frozen, sato):
    old = issue_code(app, sato)
    new = issue_code(app, sato)
    typed(client, run_jobs, f"テスト {old}")
    assert recipient_users(app) == {}
    typed(client, run_jobs, f"テスト {new}")
    assert recipient_users(app) == {sato: SHOPPER_ID}


def test_a_code_is_bound_to_the_operator_who_was_shown_it(
    app, client, run_jobs, line, frozen, sato, suzuki
):
    satos = issue_code(app, sato)
    suzukis = issue_code(app, suzuki)  # another operator's code does not revoke Sato's
    typed(client, run_jobs, f"テスト {satos}")
    typed(client, run_jobs, f"テスト {suzukis}", user=OTHER_USER)
    assert recipient_users(app) == {sato: SHOPPER_ID, suzuki: OTHER_USER}


def test_an_account_already_registered_to_another_operator_is_not_taken_over(
    app, client, run_jobs, line, frozen, sato, suzuki
):
    typed(client, run_jobs, f"テスト {issue_code(app, sato)}")
    suzukis = issue_code(app, suzuki)
    typed(client, run_jobs, f"テスト {suzukis}")
    assert recipient_users(app) == {sato: SHOPPER_ID}
    assert "既に別のスタッフ" in replies(line)[-1]
    typed(client, run_jobs, f"テスト {suzukis}", user=OTHER_USER)  # the code was not used up
    assert recipient_users(app) == {sato: SHOPPER_ID, suzuki: OTHER_USER}


def test_registering_again_moves_the_operator_to_the_new_account(
    app, client, run_jobs, frozen, sato
):
    typed(client, run_jobs, f"テスト {issue_code(app, sato)}")
    typed(client, run_jobs, f"テスト {issue_code(app, sato)}", user=OTHER_USER)
    assert recipient_users(app) == {sato: OTHER_USER}


def test_wrong_codes_lock_the_line_user_out_for_a_while(app, client, run_jobs, line, frozen, sato):
    for _ in range(5):  # a few wrong codes, not thousands of guesses
        typed(client, run_jobs, "テスト ZZZZ-9999")
    code = issue_code(app, sato)
    typed(client, run_jobs, f"テスト {code}")  # even the right code, while locked
    assert recipient_users(app) == {}
    assert "入力ミスが続いた" in replies(line)[-1]
    typed(client, run_jobs, f"テスト {code}", user=OTHER_USER)  # the lock is per LINE user
    assert recipient_users(app) == {sato: OTHER_USER}
    frozen.tick(staff_recipients.LOCK_WINDOW + timedelta(seconds=1))
    typed(client, run_jobs, f"テスト {issue_code(app, sato)}")
    assert recipient_users(app) == {sato: SHOPPER_ID}


def test_a_disabled_operators_code_is_refused_and_their_account_not_used(
    app, client, run_jobs, line, frozen, sato, suzuki
):
    admin = make_operator(app, "kanri@example.jp", "管理")
    code = issue_code(app, suzuki)
    typed(client, run_jobs, f"テスト {issue_code(app, sato)}", user=OTHER_USER)
    with app.app_context():
        session = app.extensions["bot"].db.session()
        for person in (suzuki, sato):
            set_active(session, session.get(Operator, person), False, session.get(Operator, admin))
        session.commit()
    typed(client, run_jobs, f"テスト {code}")
    assert "コードが正しくありません" in replies(line)[-1]
    with app.app_context():
        session = app.extensions["bot"].db.session()
        assert staff_recipients.recipients(session) == []
        assert [r.operator_id for r in staff_recipients.recipients(session, active_only=False)] == [
            sato
        ]


@pytest.mark.parametrize("body", ["送料はいくらですか", "テストです", "会員番号 ABCD2345"])
def test_a_message_that_is_not_a_code_reaches_the_faq_unchanged(
    app, client, run_jobs, frozen, faq_calls, body
):
    typed(client, run_jobs, body)
    assert faq_calls == [body]
    assert recipient_users(app) == {}
