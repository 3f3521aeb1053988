"""Values no query can take get a 4xx with a reason in Japanese, never a 500 (PostgreSQL too)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers.console import PASSWORD, csrf, post

TOO_BIG = "99999999999999999999"


@pytest.fixture(autouse=True)
def _answer_errors(app: Flask) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash answers 500, as in production


def test_an_after_beyond_any_message_id_is_refused(as_operator: FlaskClient, ticket_id: int):
    response = as_operator.get(f"/console/api/tickets/{ticket_id}/messages?after=2147483648")
    assert response.status_code == 400
    assert response.json == {"error": "after は数値で指定してください。"}


def test_a_ticket_id_beyond_any_row_is_not_found(as_operator: FlaskClient):
    response = as_operator.get(f"/console/tickets/{TOO_BIG}")
    assert response.status_code == 404
    assert "指定されたデータは見つかりません。" in response.text


def test_a_message_poll_for_a_ticket_id_beyond_any_row_is_not_found(as_operator: FlaskClient):
    response = as_operator.get(f"/console/api/tickets/{TOO_BIG}/messages")
    assert response.status_code == 404
    assert response.json == {"error": "指定されたデータは見つかりません。"}


def test_a_canned_reply_id_beyond_any_row_is_not_found(as_admin: FlaskClient):
    response = post(as_admin, f"/console/admin/canned/{TOO_BIG}", title="送料", body="無料です")
    assert response.status_code == 404


def test_an_operator_id_beyond_any_row_is_not_found(as_admin: FlaskClient):
    response = post(as_admin, f"/console/admin/operators/{TOO_BIG}", role="admin")
    assert response.status_code == 404


def test_a_search_with_nul_is_refused(as_operator: FlaskClient):
    response = as_operator.get("/console/queue?tab=resolved&q=%E5%B1%B1%00%E7%94%B0")
    assert response.status_code == 400
    assert "NUL" in response.text


def test_a_form_with_nul_is_refused(as_operator: FlaskClient, ticket_id: int):
    response = post(as_operator, f"/console/tickets/{ticket_id}/notes", body="折り返し\x00電話")
    assert response.status_code == 400
    assert "NUL" in response.text


def test_a_page_cursor_beyond_any_ticket_id_is_refused(as_operator: FlaskClient):
    response = as_operator.get("/console/queue?tab=resolved&older=1.999999999999999999")
    assert response.status_code == 400
    assert "ページの指定が正しくありません。" in response.text


def test_a_transfer_to_an_operator_id_beyond_any_row_is_refused(
    as_operator: FlaskClient, ticket_id: int
):
    post(as_operator, f"/console/tickets/{ticket_id}/claim")
    response = post(as_operator, f"/console/tickets/{ticket_id}/transfer", to=TOO_BIG)
    assert response.status_code == 400
    assert "引き継ぎ先を選んでください。" in response.text


def test_a_next_with_cr_lf_goes_to_the_queue(app: Flask, operator_id: int):
    client = app.test_client()
    response = client.post(
        "/console/login",
        data={
            "email": "sato@example.jp",
            "password": PASSWORD,
            "csrf_token": csrf(client),
            "next": "/console/queue\r\nSet-Cookie: session=stolen",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/queue"
    assert "stolen" not in str(response.headers)
