"""Signing in and out, lockout after repeated failures, session validity."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time

from bot.console.operators import MAX_FAILURES_PER_ACCOUNT
from bot.models import LoginAttempt
from tests.helpers.console import PASSWORD, csrf, login, operator, post


def test_login_page_is_japanese_and_strict(client: FlaskClient) -> None:
    response = client.get("/console/login")
    assert response.status_code == 200
    assert "スタッフログイン" in response.text
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_need_login(client: FlaskClient) -> None:
    response = client.get("/console/queue")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login")
    assert client.get("/console/api/queue").status_code == 401


def test_login_ok_and_logout(app: Flask, client: FlaskClient, operator_id: int) -> None:
    response = login(client, "Sato@Example.jp ")  # case and spaces do not matter
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/queue"
    page = client.get("/console/queue")
    assert page.status_code == 200 and "佐藤" in page.text
    assert operator(app, operator_id).last_login_at is not None

    assert post(client, "/console/logout").status_code == 303
    assert client.get("/console/queue").status_code == 302


def test_logout_ends_a_copied_session_cookie(app: Flask, operator_id: int) -> None:
    first = app.test_client()
    login(first, "sato@example.jp")
    with first.session_transaction() as stolen:
        copied = dict(stolen)
    post(first, "/console/logout")
    replay = app.test_client()
    with replay.session_transaction() as session:
        session.update(copied)
    assert replay.get("/console/queue").status_code == 302


def test_session_is_rotated_on_login(client: FlaskClient, operator_id: int) -> None:
    client.get("/console/login")
    with client.session_transaction() as session:
        session["planted"] = "attacker value"
    before = csrf(client)
    login(client, "sato@example.jp")
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["csrf"] != before


def test_wrong_password(app: Flask, client: FlaskClient, operator_id: int) -> None:
    response = login(client, "sato@example.jp", "まちがったパスワード")
    assert response.status_code == 401
    assert "メールアドレスまたはパスワードが違います" in response.text
    assert client.get("/console/queue").status_code == 302


def test_unknown_email_looks_like_a_wrong_password(client: FlaskClient) -> None:
    response = login(client, "nobody@example.jp")
    assert response.status_code == 401
    assert "メールアドレスまたはパスワードが違います" in response.text


def test_lockout_after_repeated_failures(app: Flask, operator_id: int) -> None:
    client = app.test_client()
    with freeze_time("2024-05-08 02:00:00"):
        for _ in range(MAX_FAILURES_PER_ACCOUNT):
            assert login(client, "sato@example.jp", "guess-guess").status_code == 401
        # Locked: even the right password is refused, from any client.
        locked = login(app.test_client(), "sato@example.jp", PASSWORD)
        assert locked.status_code == 429
        assert "しばらくログインできません" in locked.text
    with freeze_time("2024-05-08 02:14:00"):
        assert login(app.test_client(), "sato@example.jp", PASSWORD).status_code == 429
    with freeze_time("2024-05-08 02:16:00"):
        assert login(app.test_client(), "sato@example.jp", PASSWORD).status_code == 303


def test_lockout_per_address(app: Flask, operator_id: int) -> None:
    client = app.test_client()
    with freeze_time("2024-05-08 02:00:00"):
        for n in range(20):
            login(client, f"guess{n}@example.jp", "guess-guess")
        assert login(client, "sato@example.jp", PASSWORD).status_code == 429
    with app.app_context():
        session = app.extensions["bot"].db.session()
        assert session.query(LoginAttempt).filter_by(succeeded=False).count() == 20


def test_deactivated_operator_is_signed_out(
    app: Flask, as_operator: FlaskClient, as_admin: FlaskClient, operator_id: int
) -> None:
    assert as_operator.get("/console/queue").status_code == 200
    post(as_admin, f"/console/admin/operators/{operator_id}", active="0")
    assert as_operator.get("/console/queue").status_code == 302
    assert login(app.test_client(), "sato@example.jp").status_code == 401


def test_open_redirect_after_login_is_refused(client: FlaskClient, operator_id: int) -> None:
    client.get("/console/login")
    response = client.post(
        "/console/login",
        data={
            "email": "sato@example.jp",
            "password": PASSWORD,
            "next": "//evil.example.com/",
            "csrf_token": csrf(client),
        },
    )
    assert response.headers["Location"] == "/console/queue"
