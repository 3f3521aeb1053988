"""Changing one's own password, and an admin setting a temporary one."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.console.operators import MAX_FAILURES_PER_ACCOUNT
from bot.models import LoginAttempt, TicketState
from tests.helpers.console import PASSWORD, csrf, login, operator, post, ticket

NEW_PASSWORD = "新しい合言葉は桜餅2024"
TEMP_PASSWORD = "仮のパスワード・一時的です"


def change(
    client: FlaskClient,
    current: str = PASSWORD,
    new: str = NEW_PASSWORD,
    again: str | None = None,
) -> object:
    """Submit the password-change form."""
    return post(
        client,
        "/console/password",
        current_password=current,
        new_password=new,
        new_password_again=new if again is None else again,
    )


def signed_in(app: Flask, email: str, password: str = PASSWORD) -> FlaskClient:
    client = app.test_client()
    assert login(client, email, password).status_code == 303
    return client


def signed_out(client: FlaskClient) -> bool:
    """True when a console page sends the client to the login page."""
    response = client.get("/console/queue")
    return response.status_code == 302 and response.headers["Location"].startswith("/console/login")


def reset_url(operator_id: int) -> str:
    return f"/console/admin/operators/{operator_id}/password"


# -- changing one's own password ---------------------------------------------------------------


def test_change_page_is_linked_from_the_header(as_operator: FlaskClient) -> None:
    queue = as_operator.get("/console/queue")
    assert 'href="/console/password">パスワード変更</a>' in queue.text
    page = as_operator.get("/console/password")
    assert page.status_code == 200
    assert "<h1>パスワード変更</h1>" in page.text
    for field in ("current_password", "new_password", "new_password_again", "csrf_token"):
        assert f'name="{field}"' in page.text
    assert "再設定しました" not in page.text  # the forced-change notice is for resets only


def test_change_own_password(app: Flask, operator_id: int) -> None:
    here = signed_in(app, "sato@example.jp")
    elsewhere = signed_in(app, "sato@example.jp")  # e.g. the office PC
    token_before = csrf(here)
    with here.session_transaction() as session:
        copied = dict(session)

    response = change(here)
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/queue"
    queue = here.get("/console/queue")
    assert queue.status_code == 200  # this browser stays signed in
    assert "パスワードを変更しました" in queue.text
    with here.session_transaction() as session:
        assert session["csrf"] != token_before  # rotated

    assert signed_out(elsewhere)
    replay = app.test_client()
    with replay.session_transaction() as session:
        session.update(copied)
    assert signed_out(replay)

    assert login(app.test_client(), "sato@example.jp", PASSWORD).status_code == 401
    assert login(app.test_client(), "sato@example.jp", NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize(
    ("current", "new", "again", "message"),
    [
        ("まちがえたパスワード", NEW_PASSWORD, NEW_PASSWORD, "現在のパスワードが違います"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "！", "確認用と一致しません"),
        (PASSWORD, "みじかい", "みじかい", "10文字以上"),
        (PASSWORD, PASSWORD, PASSWORD, "別のパスワードを設定してください"),
    ],
    ids=["wrong-current", "mismatch", "too-short", "unchanged"],
)
def test_refused_change_changes_nothing(
    app: Flask, operator_id: int, current: str, new: str, again: str, message: str
) -> None:
    here = signed_in(app, "sato@example.jp")
    elsewhere = signed_in(app, "sato@example.jp")
    epoch = operator(app, operator_id).session_epoch

    response = change(here, current, new, again)
    assert response.status_code == 400
    assert message in response.text
    assert 'role="alert"' in response.text

    assert operator(app, operator_id).session_epoch == epoch
    assert here.get("/console/queue").status_code == 200
    assert elsewhere.get("/console/queue").status_code == 200
    if new != PASSWORD:
        assert login(app.test_client(), "sato@example.jp", new).status_code == 401
    assert login(app.test_client(), "sato@example.jp", PASSWORD).status_code == 303


def test_wrong_current_password_counts_toward_the_lockout(
    app: Flask, as_operator: FlaskClient
) -> None:
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        assert change(as_operator, current="当てずっぽうの文字列").status_code == 400
    # Locked like a guessed login: not even the right password is checked now.
    locked = change(as_operator)
    assert locked.status_code == 429
    assert "しばらく変更できません" in locked.text
    assert login(app.test_client(), "sato@example.jp", PASSWORD).status_code == 429
    assert login(app.test_client(), "sato@example.jp", NEW_PASSWORD).status_code == 429


# -- an admin sets a temporary password -------------------------------------------------------


def test_admin_page_has_a_reset_form_per_other_operator(
    as_admin: FlaskClient, admin_id: int, operator_id: int
) -> None:
    page = as_admin.get("/console/admin/operators")
    assert f'action="{reset_url(operator_id)}"' in page.text
    assert f'action="{reset_url(admin_id)}"' not in page.text
    assert "自分のパスワードを変更" in page.text


def test_admin_reset_clears_lockout_ends_sessions_and_forces_a_change(
    app: Flask, as_admin: FlaskClient, operator_id: int, ticket_id: int
) -> None:
    old_session = signed_in(app, "sato@example.jp")
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        login(app.test_client(), "sato@example.jp", "当てずっぽうの文字列")
    assert login(app.test_client(), "sato@example.jp", PASSWORD).status_code == 429

    response = post(as_admin, reset_url(operator_id), password=TEMP_PASSWORD)
    assert response.status_code == 303
    assert "佐藤さんのパスワードを再設定しました" in as_admin.get(response.headers["Location"]).text
    assert operator(app, operator_id).must_change_password is True
    assert signed_out(old_session)
    with app.app_context():
        attempts = app.extensions["bot"].db.session().query(LoginAttempt)
        assert attempts.filter_by(email="sato@example.jp", succeeded=False).count() == 0

    # Not locked any more: the old password is simply wrong, the temporary one works.
    assert login(app.test_client(), "sato@example.jp", PASSWORD).status_code == 401
    client = app.test_client()
    response = login(client, "sato@example.jp", TEMP_PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/password"

    for url in (
        "/console/",
        "/console/queue",
        "/console/queue?tab=mine",
        f"/console/tickets/{ticket_id}",
        "/console/admin/operators",
        "/console/login",
    ):
        page = client.get(url)
        assert page.status_code == 302, url
        assert page.headers["Location"] == "/console/password", url
    api = client.get("/console/api/queue")
    assert api.status_code == 403
    assert "パスワードを変更するまで" in api.json["error"]
    assert post(client, f"/console/tickets/{ticket_id}/claim").status_code == 403
    assert ticket(app, ticket_id).state is TicketState.WAITING

    page = client.get("/console/password")
    assert page.status_code == 200
    assert "管理者がパスワードを再設定しました" in page.text
    assert "チャット一覧" not in page.text  # no links into closed pages

    # The temporary password cannot be kept.
    assert change(client, TEMP_PASSWORD, TEMP_PASSWORD).status_code == 400
    assert client.get("/console/queue").headers["Location"] == "/console/password"

    assert change(client, TEMP_PASSWORD, NEW_PASSWORD).status_code == 303
    assert operator(app, operator_id).must_change_password is False
    assert client.get("/console/queue").status_code == 200
    assert client.get(f"/console/tickets/{ticket_id}").status_code == 200
    assert login(app.test_client(), "sato@example.jp", NEW_PASSWORD).status_code == 303


def test_operator_with_a_temporary_password_can_sign_out(
    app: Flask, as_admin: FlaskClient, operator_id: int
) -> None:
    post(as_admin, reset_url(operator_id), password=TEMP_PASSWORD)
    client = signed_in(app, "sato@example.jp", TEMP_PASSWORD)
    response = post(client, "/console/logout")
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/login"
    assert signed_out(client)


def test_admin_cannot_reset_their_own_password(
    app: Flask, as_admin: FlaskClient, admin_id: int
) -> None:
    response = post(as_admin, reset_url(admin_id), password=TEMP_PASSWORD)
    assert response.status_code == 303
    assert "「パスワード変更」から変更してください" in as_admin.get("/console/admin/operators").text
    assert operator(app, admin_id).must_change_password is False
    assert as_admin.get("/console/queue").status_code == 200
    assert login(app.test_client(), "kanri@example.jp", TEMP_PASSWORD).status_code == 401


def test_reset_refuses_a_short_password(
    app: Flask, as_admin: FlaskClient, as_operator: FlaskClient, operator_id: int
) -> None:
    post(as_admin, reset_url(operator_id), password="みじかい")
    assert "10文字以上" in as_admin.get("/console/admin/operators").text
    assert operator(app, operator_id).must_change_password is False
    assert as_operator.get("/console/queue").status_code == 200


def test_reset_of_an_unknown_operator_is_404(as_admin: FlaskClient) -> None:
    response = post(as_admin, reset_url(999999), password=TEMP_PASSWORD)
    assert response.status_code == 404
    assert "スタッフが見つかりません" in response.text


def test_operator_cannot_reset_anyones_password(
    app: Flask, as_operator: FlaskClient, as_other: FlaskClient, other_id: int, operator_id: int
) -> None:
    for target in (other_id, operator_id):
        response = post(as_operator, reset_url(target), password=TEMP_PASSWORD)
        assert response.status_code == 403
        assert "権限がありません" in response.text
        assert operator(app, target).must_change_password is False
    assert as_other.get("/console/queue").status_code == 200
    assert login(app.test_client(), "suzuki@example.jp", PASSWORD).status_code == 303


# -- CSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "偽のトークン"])
def test_change_without_valid_csrf_token_has_no_effect(
    app: Flask, as_operator: FlaskClient, operator_id: int, token: str | None
) -> None:
    data = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "new_password_again": NEW_PASSWORD,
    }
    if token is not None:
        data["csrf_token"] = token
    response = as_operator.post("/console/password", data=data)
    assert response.status_code == 400
    assert "再読み込み" in response.text
    assert as_operator.get("/console/queue").status_code == 200
    assert login(app.test_client(), "sato@example.jp", NEW_PASSWORD).status_code == 401


@pytest.mark.parametrize("token", [None, "偽のトークン"])
def test_reset_without_valid_csrf_token_has_no_effect(
    app: Flask, as_admin: FlaskClient, as_operator: FlaskClient, operator_id: int, token: str | None
) -> None:
    data = {"password": TEMP_PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = as_admin.post(reset_url(operator_id), data=data)
    assert response.status_code == 400
    assert operator(app, operator_id).must_change_password is False
    assert as_operator.get("/console/queue").status_code == 200
    assert login(app.test_client(), "sato@example.jp", TEMP_PASSWORD).status_code == 401
