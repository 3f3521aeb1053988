"""CSRF on every state change, and who may do what."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.line.gateway import InMemoryLineGateway
from bot.models import CannedReply, OperatorRole, TicketState
from tests.helpers.console import csrf, login, operator, post, ticket


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_claim_without_valid_csrf_token_has_no_effect(
    app: Flask, as_operator: FlaskClient, ticket_id: int, token: str | None
) -> None:
    data = {} if token is None else {"csrf_token": token}
    response = as_operator.post(f"/console/tickets/{ticket_id}/claim", data=data)
    assert response.status_code == 400
    assert "再読み込み" in response.text
    assert ticket(app, ticket_id).state is TicketState.WAITING


def test_fetch_with_csrf_header_is_accepted(
    app: Flask, as_operator: FlaskClient, ticket_id: int
) -> None:
    response = as_operator.post(
        f"/console/tickets/{ticket_id}/claim", headers={"X-CSRF-Token": csrf(as_operator)}
    )
    assert response.status_code == 303
    assert ticket(app, ticket_id).state is TicketState.CLAIMED


def test_login_form_needs_csrf(client: FlaskClient, operator_id: int) -> None:
    client.get("/console/login")
    response = client.post(
        "/console/login", data={"email": "sato@example.jp", "password": "x" * 12}
    )
    assert response.status_code == 400


def test_reply_without_csrf_sends_nothing(
    app: Flask, as_operator: FlaskClient, ticket_id: int, line: InMemoryLineGateway
) -> None:
    post(as_operator, f"/console/tickets/{ticket_id}/claim")
    response = as_operator.post(
        f"/console/tickets/{ticket_id}/reply",
        data={"text": "こんにちは", "reply_token": "3f0b3f5e-0000-4000-8000-000000000001"},
    )
    assert response.status_code == 400
    assert line.sent("push") == []


@pytest.mark.parametrize(
    "url",
    ["/console/admin/operators", "/console/admin/canned", "/console/admin/hours"],
)
def test_operator_cannot_open_admin_pages(as_operator: FlaskClient, url: str) -> None:
    response = as_operator.get(url)
    assert response.status_code == 403
    assert "権限がありません" in response.text


def test_operator_cannot_post_to_admin_endpoints(
    app: Flask, as_operator: FlaskClient, operator_id: int
) -> None:
    response = post(as_operator, f"/console/admin/operators/{operator_id}", role="admin")
    assert response.status_code == 403
    assert operator(app, operator_id).role is OperatorRole.OPERATOR
    response = post(as_operator, "/console/admin/canned", title="悪用", body="本文")
    assert response.status_code == 403
    with app.app_context():
        assert app.extensions["bot"].db.session().query(CannedReply).count() == 0


def test_reply_on_another_operators_ticket_is_forbidden(
    app: Flask,
    as_operator: FlaskClient,
    as_other: FlaskClient,
    ticket_id: int,
    line: InMemoryLineGateway,
) -> None:
    post(as_other, f"/console/tickets/{ticket_id}/claim")
    page = as_operator.get(f"/console/tickets/{ticket_id}")
    assert 'name="reply_token"' not in page.text  # no reply box for a non-owner
    response = post(
        as_operator,
        f"/console/tickets/{ticket_id}/reply",
        text="横取りです",
        reply_token="3f0b3f5e-0000-4000-8000-000000000002",
    )
    assert response.status_code == 403
    assert line.sent("push") == []
    for action, data in (("transfer", {"to": "queue"}), ("resolve", {})):
        assert (
            post(as_operator, f"/console/tickets/{ticket_id}/{action}", **data).status_code == 403
        )
    assert ticket(app, ticket_id).state is TicketState.CLAIMED


def test_operator_id_in_a_form_is_ignored(
    app: Flask, as_operator: FlaskClient, other_id: int, operator_id: int, ticket_id: int
) -> None:
    # The claimant is always the signed-in operator, whatever the form says.
    post(as_operator, f"/console/tickets/{ticket_id}/claim", operator_id=str(other_id))
    assert ticket(app, ticket_id).operator_id == operator_id
    post(
        as_operator,
        f"/console/tickets/{ticket_id}/notes",
        body="メモです",
        operator_id=str(other_id),
    )
    with app.app_context():
        from bot.models import InternalNote

        note = app.extensions["bot"].db.session().query(InternalNote).one()
        assert note.operator_id == operator_id


def test_admin_may_act_on_any_ticket(
    app: Flask,
    as_other: FlaskClient,
    as_admin: FlaskClient,
    ticket_id: int,
    line: InMemoryLineGateway,
) -> None:
    post(as_other, f"/console/tickets/{ticket_id}/claim")
    response = post(
        as_admin,
        f"/console/tickets/{ticket_id}/reply",
        text="管理者からご連絡します。",
        reply_token="3f0b3f5e-0000-4000-8000-000000000003",
    )
    assert response.status_code == 303
    assert line.sent("push")[0]["messages"][0]["text"] == "管理者からご連絡します。"


def test_admin_manages_operators(app: Flask, as_admin: FlaskClient, admin_id: int) -> None:
    response = post(
        as_admin,
        "/console/admin/operators",
        name="高橋",
        email="takahashi@example.jp",
        password="十分に長いパスワードです",
        role="operator",
    )
    assert response.status_code == 303
    assert (
        login(app.test_client(), "takahashi@example.jp", "十分に長いパスワードです").status_code
        == 303
    )
    # Short passwords and self-demotion are refused with a reason.
    post(as_admin, "/console/admin/operators", name="短", email="a@example.jp", password="short")
    assert "10文字以上" in as_admin.get("/console/admin/operators").text
    post(as_admin, f"/console/admin/operators/{admin_id}", role="operator")
    assert operator(app, admin_id).role is OperatorRole.ADMIN


def test_bad_input_is_a_4xx_not_a_500(as_admin: FlaskClient, admin_id: int, ticket_id: int) -> None:
    assert post(as_admin, f"/console/admin/operators/{admin_id}", role="boss").status_code == 400
    assert post(as_admin, "/console/admin/hours", start="25:00", end="18:00").status_code == 400
    assert as_admin.get("/console/queue?tab=secret").status_code == 400
    assert as_admin.get(f"/console/api/tickets/{ticket_id}/messages?after=x").status_code == 400
    assert as_admin.get("/console/tickets/999999").status_code == 404
    response = post(as_admin, f"/console/tickets/{ticket_id}/reply", text="x", reply_token="nope")
    assert response.status_code == 400
    response = post(as_admin, f"/console/tickets/{ticket_id}/transfer", to="abc")
    assert response.status_code == 400
